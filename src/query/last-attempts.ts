import { attemptsOf, type AttemptRow } from "../db/attempts";
import { onEveryShard } from "../db/shards";
import type { Env } from "../env";

/** The latest attempt of each of these deliveries (for a listing's "last error"), by delivery id. */
export async function lastAttempts(env: Env, deliveryIds: readonly string[]): Promise<Map<string, AttemptRow>> {
  const last = new Map<string, AttemptRow>();
  if (deliveryIds.length === 0) return last;
  // A delivery's attempts live in its shard; each shard answers oldest first, so the last one set for an id wins.
  const perShard = await onEveryShard(env, async (shard) => (await attemptsOf(shard.db, deliveryIds)).results);
  for (const a of perShard.flat()) last.set(a.delivery_id, a);
  return last;
}
