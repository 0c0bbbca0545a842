import { open, type SealKeys } from "../crypto/secret-box";
import type { DestinationRow } from "../db/destinations";
import { isReservedHeader } from "./destination-policy";
import { signatureHeader } from "./sign";

export interface OutboundEvent {
  id: string;
  type: string;
  tenant: string;
  received_at: number;
  seq: number | null;
  /** The callback body exactly as AiRudder sent it. */
  payload: string;
}

/**
 * The envelope of CONTRACT §4. `data` is spliced in as the received text, not
 * re-serialised, so the CRM gets AiRudder's JSON exactly (escapes, key order,
 * unknown fields and all) and a large body costs no second stringify.
 */
export function envelopeText(e: OutboundEvent): string {
  const head = JSON.stringify({
    id: e.id,
    type: e.type,
    tenant: e.tenant,
    received_at: new Date(e.received_at).toISOString(),
    ...(e.seq !== null ? { seq: e.seq } : {}),
  });
  return head.slice(0, -1) + ',"data":' + e.payload + "}";
}

/** The signing secrets in force: the current one, and the previous one during its grace period. */
async function signingSecrets(dest: DestinationRow, keys: SealKeys, now: number): Promise<string[]> {
  const secrets = [await open(dest.secret_enc, keys)];
  if (dest.previous_secret_enc && (dest.previous_secret_expires_at ?? 0) > now) {
    secrets.push(await open(dest.previous_secret_enc, keys));
  }
  return secrets;
}


export async function customHeaders(dest: DestinationRow, keys: SealKeys): Promise<Record<string, string>> {
  if (!dest.headers_enc) return {};
  const parsed = JSON.parse(await open(dest.headers_enc, keys)) as Record<string, string>;
  // Headers saved before a name became reserved are dropped here rather than sent.
  return Object.fromEntries(Object.entries(parsed).filter(([k]) => !isReservedHeader(k)));
}

/** Body and headers of one attempt, signed at the time of sending (`webhook-timestamp` is now). */
export async function buildRequest(
  dest: DestinationRow,
  event: OutboundEvent,
  keys: SealKeys,
  now: number,
): Promise<{ body: string; headers: Record<string, string> }> {
  const body = dest.format === "raw" ? event.payload : envelopeText(event);
  const timestamp = Math.floor(now / 1000);
  const [secrets, extra] = await Promise.all([signingSecrets(dest, keys, now), customHeaders(dest, keys)]);
  return {
    body,
    headers: {
      "user-agent": "airudder-relay",
      ...extra,
      "content-type": "application/json",
      "webhook-id": event.id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": await signatureHeader(secrets, event.id, timestamp, body),
    },
  };
}
