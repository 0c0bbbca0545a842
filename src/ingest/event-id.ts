import { sha256Hex } from "../crypto/hash";

/**
 * The id of a callback: a hash of the tenant and the exact body. AiRudder's
 * retries are byte-identical, so they get the same id without any lookup, and
 * the consumer's conflict clause keeps a single row. The URL kind is left out
 * on purpose: `any` and the specific kind name the same event.
 */
export async function eventIdFor(tenantId: string, body: string): Promise<string> {
  return "evt_" + (await sha256Hex(tenantId + "\n" + body)).slice(0, 32);
}

export async function quarantineIdFor(tenantId: string, body: string): Promise<string> {
  return "qua_" + (await sha256Hex("quarantine\n" + tenantId + "\n" + body)).slice(0, 32);
}
