import type { EventColumns } from "../callbacks/columns";
import { insertInbox } from "../db/inbox";
import type { Env } from "../env";
import { RelayError } from "../http/errors";
import type { CallbackMessage } from "../queue-messages";

/**
 * A queue message holds at most 128 KB, measured as sent: the body as a JSON
 * string, where escapes can take six bytes for one (a control character
 * becomes `\u0001`). A message over this size carries only the event id, and
 * the body waits in the D1 inbox; the margin is for the queue's own framing.
 */
export const INLINE_MESSAGE_MAX_BYTES = 120_000;
/** The most one body byte can become once escaped in JSON. */
const JSON_ESCAPE_GROWTH = 6;

function fitsInline(message: CallbackMessage, bodyBytes: number): boolean {
  // The common case needs no measuring: even all escapes would fit. The
  // columns are a few short strings, already escaped once stringified, and
  // at most three UTF-8 bytes a character.
  const columnsBytes = message.columns ? 3 * JSON.stringify(message.columns).length : 0;
  if (bodyBytes * JSON_ESCAPE_GROWTH + columnsBytes + 1024 <= INLINE_MESSAGE_MAX_BYTES) return true;
  return new TextEncoder().encode(JSON.stringify(message)).byteLength <= INLINE_MESSAGE_MAX_BYTES;
}

export interface AcceptedCallback {
  event_id: string;
  tenant_id: string;
  kind: string;
  type: string;
  received_at: number;
  body: string;
  /** Byte length of `body` as UTF-8, known from the request. */
  size: number;
  columns: EventColumns;
}

/**
 * Hands a valid callback durably to the relay: resolved means it is in the
 * Queue (or in D1), so AiRudder may be told 200. Any failure is a 503, which
 * AiRudder retries.
 */
export async function handOff(env: Env, cb: AcceptedCallback): Promise<void> {
  const reference: CallbackMessage = {
    t: "callback",
    event_id: cb.event_id,
    tenant_id: cb.tenant_id,
    kind: cb.kind,
    type: cb.type,
    received_at: cb.received_at,
    columns: cb.columns,
  };
  const withBody = { ...reference, body: cb.body };
  const inline = fitsInline(withBody, cb.size);
  const message = inline ? withBody : reference;
  try {
    if (!inline) await insertInbox(env.DB, cb);
    await env.CALLBACKS_QUEUE.send(message, { contentType: "json" });
  } catch (err) {
    // A large body already in the inbox is picked up by the sweep even if the send failed.
    console.error(JSON.stringify({ level: "error", msg: "hand-off failed", event_id: cb.event_id, error: String(err) }));
    throw new RelayError("unavailable", "the relay could not accept the callback right now; retry later");
  }
}
