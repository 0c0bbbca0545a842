import { attemptsOf, type AttemptRow } from "../db/attempts";
import type { Env } from "../env";

/** The latest attempt of each of these deliveries (for a listing's "last error"), by delivery id. */
export async function lastAttempts(env: Env, deliveryIds: readonly string[]): Promise<Map<string, AttemptRow>> {
  const last = new Map<string, AttemptRow>();
  if (deliveryIds.length === 0) return last;
  // Oldest first, so the last one written for an id wins.
  for (const a of (await attemptsOf(env.DB, deliveryIds)).results) last.set(a.delivery_id, a);
  return last;
}
