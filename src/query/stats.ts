import { everyDatabase, onEveryShard } from "../db/shards";
import { hourlyAttempts, hourlyReceived, type AttemptTrigger } from "../db/stats";
import type { Env } from "../env";

export interface OutcomeCounts {
  delivered: number;
  failed: number;
  dead: number;
}

export interface HourCounts extends OutcomeCounts {
  /** Start of the hour, epoch ms. */
  hour: number;
  received: number;
  by_trigger: Record<AttemptTrigger, OutcomeCounts>;
}

const zero = (): OutcomeCounts => ({ delivered: 0, failed: 0, dead: 0 });

/**
 * Per hour: events received, and attempts by outcome and by what made them
 * (counted when recorded, so a failure later delivered stays a failure).
 * Hours with nothing are left out.
 */
export async function hourlyCounts(env: Env, tenant: string | null, since: number, until: number): Promise<HourCounts[]> {
  // Counters live with the attempts they count, in the event shards; the
  // control database holds those counted before they moved there.
  const [received, attempts] = await Promise.all([
    onEveryShard(env, async (shard) => (await hourlyReceived(shard.db, tenant, since, until)).results),
    Promise.all(
      everyDatabase(env).map(async (db) => (await hourlyAttempts(db, tenant, since, until)).results),
    ),
  ]);
  const hours = new Map<number, HourCounts>();
  const bucket = (hour: number) => {
    let b = hours.get(hour);
    if (!b) hours.set(hour, (b = { hour, received: 0, ...zero(), by_trigger: { first: zero(), retry: zero(), operator: zero() } }));
    return b;
  };
  for (const r of received.flat()) bucket(r.hour).received += r.n;
  for (const r of attempts.flat()) {
    // A 410 (held) is not one of the three outcomes counted.
    if (r.outcome !== "delivered" && r.outcome !== "failed" && r.outcome !== "dead") continue;
    const b = bucket(r.hour);
    b[r.outcome] += r.n;
    b.by_trigger[r.trigger][r.outcome] += r.n;
  }
  return [...hours.values()].sort((a, b) => a.hour - b.hour);
}
