import { insertAttempt } from "../db/attempts";
import {
  abandonOrphans,
  abandonUnrecorded,
  claimDueDeliveries,
  claimedBy,
  deferClaimed,
  holdPausedDeliveries,
  notYetDue,
  destinationStates,
  type ClaimedDelivery,
  type ClaimedDeliveryRow,
} from "../db/deliveries";
import { onEveryShard, type Shard } from "../db/shards";
import { destinationsByIds, type DestinationRow } from "../db/destinations";
import { sendAlert } from "../delivery/alerts";
import { attemptInOrder, leaseMs } from "../delivery/attempt-claimed";
import { destinationIdOf } from "../delivery/routing";
import { scheduleRetries } from "../delivery/schedule-retries";
import type { Env } from "../env";
import type { DeliveryMessage } from "../queue-messages";
import { readPayload } from "../storage/payloads";

/** How long a delivery whose payload R2 would not give waits before it is tried again (not a failed attempt). */
export const PAYLOAD_UNREADABLE_WAIT_MS = 60_000;

/**
 * One batch of "try this delivery" messages (retries, sweeps, operator
 * actions, releases). In one D1 round trip, the lifecycle's own rules: give
 * up on deliveries whose outcome could never be recorded or whose
 * destination is gone, hold those of a paused destination, claim the rest
 * that are due. The claim makes a duplicate message harmless: a delivery
 * already attempted, delivered, held, claimed elsewhere or waiting for an
 * earlier event of its call is simply not claimed. A message that arrives
 * before its delivery is due (a wait longer than the queue's delay limit)
 * is sent on again for the rest of the wait.
 */
export async function runDeliveries(
  messages: readonly Message<DeliveryMessage>[],
  env: Env,
  ctx: ExecutionContext,
): Promise<void> {
  const owner = crypto.randomUUID();
  const now = Date.now();
  const ids = [...new Set(messages.map((m) => m.body.delivery_id))];
  const destinationRows = (await destinationsByIds(env.DB, [...new Set(ids.map(destinationIdOf))]).all<DestinationRow>()).results;
  const states = destinationStates(destinationRows);
  // A delivery lives in one shard; the others match none of these ids.
  const perShard = await onEveryShard(env, async (shard) => {
    const [abandoned, , , , claimed, early] = await shard.db.batch([
      abandonUnrecorded(shard.db, ids, now),
      abandonOrphans(shard.db, ids, now, states),
      holdPausedDeliveries(shard.db, ids, now, states),
      claimDueDeliveries(shard.db, ids, owner, now, leaseMs(env), states),
      claimedBy(shard.db, owner, ids),
      notYetDue(shard.db, ids, now),
    ]);
    return {
      shard,
      abandoned: abandoned!.results as Unrecorded[],
      claimed: (claimed!.results as ClaimedDeliveryRow[]).map((c) => ({ ...c, shard })),
      early: early!.results as { id: string; next_attempt_at: number }[],
    };
  });
  const held = perShard.flatMap((p) => p.claimed);
  const withBodies = await withPayloads(env, held, now).catch(() => null);
  const claimed = withBodies ?? [];
  const early = perShard.flatMap((p) => p.early);

  for (const p of perShard) if (p.abandoned.length) await reportUnrecorded(env, ctx, p.shard, p.abandoned, now);
  if (!withBodies) {
    await Promise.all(perShard.filter((p) => p.claimed.length).map((p) => deferClaimed(p.shard.db, p.claimed.map((c) => c.id), owner, now + PAYLOAD_UNREADABLE_WAIT_MS).run()));
  }
  await scheduleRetries(
    env,
    [...early.map((e) => ({ id: e.id, at: e.next_attempt_at })), ...(withBodies ? [] : held.map((c) => ({ id: c.id, at: now + PAYLOAD_UNREADABLE_WAIT_MS })))],
    now,
  );
  await attemptInOrder(env, ctx, owner, claimed, new Map(destinationRows.map((d) => [d.id, d])), now + leaseMs(env));
  for (const m of messages) m.ack();
}

/** A delivery given up because its outcome was never recorded, and how many claims went unrecorded. */
export interface Unrecorded {
  id: string;
  event_id: string;
  destination_id: string;
  unrecorded: number;
}

/**
 * Each claimed event's body from R2, once per event and all at once. When R2
 * refuses a read, R2 rather than the CRM is the problem: the whole claimed set
 * is handed back unattempted (no failed attempt counted, and no later event
 * of a call sent ahead of an earlier one whose body could not be read).
 */
async function withPayloads(env: Env, claimed: readonly ClaimedDelivery[], now: number): Promise<ClaimedDelivery[]> {
  const events = new Map(claimed.map((c) => [c.event_id, c]));
  const bodies = new Map(await Promise.all([...events.values()].map(async (e) => [e.event_id, await readPayload(env, e, now)] as const)));
  return claimed.map((c) => ({ ...c, payload: bodies.get(c.event_id) ?? null }));
}

/** Says in the attempt log and to the operator why a delivery died without a last attempt. */
export async function reportUnrecorded(env: Env, ctx: ExecutionContext, shard: Shard, abandoned: readonly Unrecorded[], now: number): Promise<void> {
  const error = (n: number) =>
    `not sent again: the outcome of ${n} attempts could not be recorded (D1 refused the writes); the destination may have received it`;
  await shard.db.batch(
    abandoned.map((a) =>
      insertAttempt(shard.db, { delivery_id: a.id, at: now, status_code: null, duration_ms: 0, error: error(a.unrecorded), response_body: null }),
    ),
  ).catch((err) => console.error(JSON.stringify({ level: "error", msg: "could not log abandoned deliveries", error: String(err) })));
  ctx.waitUntil(
    Promise.allSettled(
      abandoned.map((a) =>
        sendAlert(env, "relay.delivery.dead", {
          delivery_id: a.id,
          event_id: a.event_id,
          destination_id: a.destination_id,
          last_status_code: null,
          error: error(a.unrecorded),
        }),
      ),
    ),
  );
}
