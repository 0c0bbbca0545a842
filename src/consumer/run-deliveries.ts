import { claimDueDeliveries, claimedBy, holdPausedDeliveries, notYetDue, type ClaimedDelivery } from "../db/deliveries";
import { destinationsByIds, type DestinationRow } from "../db/destinations";
import { attemptInOrder, leaseMs } from "../delivery/attempt-claimed";
import { scheduleRetries } from "../delivery/schedule-retries";
import type { Env } from "../env";
import type { DeliveryMessage } from "../queue-messages";

/**
 * One batch of "try this delivery" messages (retries, sweeps, operator
 * actions). The claim makes a duplicate message harmless: a delivery already
 * attempted, delivered, held or claimed elsewhere is simply not claimed. A
 * message that arrives before its delivery is due (a wait longer than the
 * queue's delay limit) is sent on again for the rest of the wait.
 */
export async function runDeliveries(
  messages: readonly Message<DeliveryMessage>[],
  env: Env,
  ctx: ExecutionContext,
): Promise<void> {
  const owner = crypto.randomUUID();
  const now = Date.now();
  const ids = [...new Set(messages.map((m) => m.body.delivery_id))];
  const [, , claimedResult, earlyResult] = await env.DB.batch([
    holdPausedDeliveries(env.DB, ids),
    claimDueDeliveries(env.DB, ids, owner, now, leaseMs(env)),
    claimedBy(env.DB, owner, ids),
    notYetDue(env.DB, ids, now),
  ]);
  const claimed = claimedResult!.results as ClaimedDelivery[];
  const early = earlyResult!.results as { id: string; next_attempt_at: number }[];

  const destinationIds = [...new Set(claimed.map((c) => c.destination_id))];
  const destinations = destinationIds.length
    ? (await destinationsByIds(env.DB, destinationIds).all<DestinationRow>()).results
    : [];
  await scheduleRetries(env, early.map((e) => ({ id: e.id, at: e.next_attempt_at })), now);
  await attemptInOrder(env, ctx, owner, claimed, new Map(destinations.map((d) => [d.id, d])));
  for (const m of messages) m.ack();
}
