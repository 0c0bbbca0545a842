import { restartDelivery, upsertReplayDelivery } from "../db/deliveries";
import { scheduleRetries } from "./schedule-retries";
import { deliveryIdFor } from "./routing";
import type { Env } from "../env";

/** Queues deliveries whose schedule was just (re)started, skipping those now held by a paused destination. */
export async function queueRestarted(env: Env, rows: readonly { id: string; status: string }[], now: number): Promise<number> {
  const due = rows.filter((r) => r.status === "pending");
  await scheduleRetries(env, due.map((r) => ({ id: r.id, at: now })), now);
  return due.length;
}

/** Tries existing deliveries again from the start of the schedule. */
export async function restartDeliveries(env: Env, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const now = Date.now();
  const results = await env.DB.batch(ids.map((id) => restartDelivery(env.DB, id, now)));
  return queueRestarted(env, results.flatMap((r) => r.results as { id: string; status: string }[]), now);
}

/**
 * Delivers an event again to the given destinations, under the same
 * `webhook-id`: an existing delivery starts its schedule over, a missing one
 * (a destination added since) is created.
 */
export async function replayEvent(
  env: Env,
  event: { id: string; tenant_id: string },
  destinationIds: readonly string[],
): Promise<string[]> {
  const now = Date.now();
  const rows = destinationIds.map((destination_id) => ({
    id: deliveryIdFor(event.id, destination_id),
    event_id: event.id,
    destination_id,
    tenant_id: event.tenant_id,
  }));
  if (rows.length === 0) return [];
  await env.DB.batch(rows.map((r) => upsertReplayDelivery(env.DB, r, now)));
  return restartDeliveries(env, rows.map((r) => r.id)).then(() => rows.map((r) => r.id));
}
