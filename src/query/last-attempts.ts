import type { AttemptRow } from "../db/attempts";
import { onEveryShard } from "../db/shards";
import type { Env } from "../env";
import { attemptsIn } from "./attempts";

/** The latest attempt of each of these deliveries (for a listing's "last error"), by delivery id. */
export async function lastAttempts(
  env: Env,
  deliveries: readonly { id: string; event_id: string; destination_id: string }[],
): Promise<Map<string, AttemptRow>> {
  const last = new Map<string, AttemptRow>();
  if (deliveries.length === 0) return last;
  // A delivery's attempts live in its shard; each shard answers oldest first, so the last one set for an id wins.
  const perShard = await onEveryShard(env, (shard) => attemptsIn(shard.db, deliveries));
  for (const a of perShard.flat()) last.set(a.delivery_id, a);
  return last;
}
