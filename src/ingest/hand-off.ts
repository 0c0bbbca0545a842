import { insertInbox } from "../db/inbox";
import type { Env } from "../env";
import { RelayError } from "../http/errors";
import type { CallbackMessage } from "../queue-messages";

/**
 * A queue message holds at most 128 KB. Bodies above this size wait in the D1
 * inbox and the message carries only their id; the margin leaves room for the
 * message's other fields and its encoding.
 */
export const INLINE_BODY_MAX_BYTES = 96 * 1024;

export interface AcceptedCallback {
  event_id: string;
  tenant_id: string;
  kind: string;
  type: string;
  received_at: number;
  body: string;
  /** Byte length of `body` as UTF-8, known from the request. */
  size: number;
}

/**
 * Hands a valid callback durably to the relay: resolved means it is in the
 * Queue (or in D1), so AiRudder may be told 200. Any failure is a 503, which
 * AiRudder retries.
 */
export async function handOff(env: Env, cb: AcceptedCallback): Promise<void> {
  const inline = cb.size <= INLINE_BODY_MAX_BYTES;
  const message: CallbackMessage = {
    t: "callback",
    event_id: cb.event_id,
    tenant_id: cb.tenant_id,
    kind: cb.kind,
    type: cb.type,
    received_at: cb.received_at,
    ...(inline ? { body: cb.body } : {}),
  };
  try {
    if (!inline) await insertInbox(env.DB, cb);
    await env.CALLBACKS_QUEUE.send(message, { contentType: "json" });
  } catch (err) {
    // A large body already in the inbox is picked up by the sweep even if the send failed.
    console.error(JSON.stringify({ level: "error", msg: "hand-off failed", event_id: cb.event_id, error: String(err) }));
    throw new RelayError("unavailable", "the relay could not accept the callback right now; retry later");
  }
}
