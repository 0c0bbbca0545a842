import { insertAttempt } from "../db/attempts";
import {
  abandonOrphans,
  abandonUnrecorded,
  claimDueDeliveries,
  claimedBy,
  deferClaimed,
  holdPausedDeliveries,
  notYetDue,
  type ClaimedDelivery,
} from "../db/deliveries";
import { destinationsByIds, type DestinationRow } from "../db/destinations";
import { sendAlert } from "../delivery/alerts";
import { attemptInOrder, leaseMs } from "../delivery/attempt-claimed";
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
  const [abandonedResult, , , , claimedResult, earlyResult] = await env.DB.batch([
    abandonUnrecorded(env.DB, ids, now),
    abandonOrphans(env.DB, ids, now),
    holdPausedDeliveries(env.DB, ids, now),
    claimDueDeliveries(env.DB, ids, owner, now, leaseMs(env)),
    claimedBy(env.DB, owner, ids),
    notYetDue(env.DB, ids, now),
  ]);
  const abandoned = abandonedResult!.results as { id: string; event_id: string; destination_id: string; unrecorded: number }[];
  const held = claimedResult!.results as ClaimedDelivery[];
  const withBodies = await withPayloads(env, held, now).catch(() => null);
  const claimed = withBodies ?? [];
  const unreadable = withBodies ? [] : held.map((c) => c.id);
  const early = earlyResult!.results as { id: string; next_attempt_at: number }[];

  if (abandoned.length) await reportUnrecorded(env, ctx, abandoned, now);
  const destinationIds = [...new Set(claimed.map((c) => c.destination_id))];
  const destinations = destinationIds.length
    ? (await destinationsByIds(env.DB, destinationIds).all<DestinationRow>()).results
    : [];
  if (unreadable.length) await deferClaimed(env.DB, unreadable, owner, now + PAYLOAD_UNREADABLE_WAIT_MS).run();
  await scheduleRetries(
    env,
    [...early.map((e) => ({ id: e.id, at: e.next_attempt_at })), ...unreadable.map((id) => ({ id, at: now + PAYLOAD_UNREADABLE_WAIT_MS }))],
    now,
  );
  await attemptInOrder(env, ctx, owner, claimed, new Map(destinations.map((d) => [d.id, d])), now + leaseMs(env));
  for (const m of messages) m.ack();
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
async function reportUnrecorded(
  env: Env,
  ctx: ExecutionContext,
  abandoned: readonly { id: string; event_id: string; destination_id: string; unrecorded: number }[],
  now: number,
): Promise<void> {
  const error = (n: number) =>
    `not sent again: the outcome of ${n} attempts could not be recorded (D1 refused the writes); the destination may have received it`;
  await env.DB.batch(
    abandoned.map((a) =>
      insertAttempt(env.DB, { delivery_id: a.id, at: now, status_code: null, duration_ms: 0, error: error(a.unrecorded), response_body: null }),
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
