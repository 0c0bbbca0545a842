import { attemptsOf, type AttemptRow } from "../db/attempts";
import { inlineAttemptsOf } from "../db/first-attempts";

/**
 * Every attempt of these deliveries (all in one shard), oldest first: the
 * inline first attempt kept in the event's row when it was delivered, and the
 * rows of the rest.
 */
export async function attemptsIn(
  db: D1Database,
  deliveries: readonly { id: string; event_id: string; destination_id: string }[],
): Promise<AttemptRow[]> {
  if (deliveries.length === 0) return [];
  const [inline, stored] = await Promise.all([inlineAttemptsOf(db, deliveries), attemptsOf(db, deliveries.map((d) => d.id))]);
  return [...inline.results, ...stored.results].sort((a, b) => a.at - b.at);
}
