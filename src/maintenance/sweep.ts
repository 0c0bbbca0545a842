import { overdueDeliveries } from "../db/deliveries";
import { staleInbox } from "../db/inbox";
import { purgeOlderThan } from "../db/retention";
import { scheduleRetries } from "../delivery/schedule-retries";
import { config, type Env } from "../env";
import type { CallbackMessage } from "../queue-messages";

/** A delivery this late has lost its queue message (or never had one). */
export const OVERDUE_AFTER_MS = 30_000;
/** An inbox body this old was never picked up by a consumer. */
export const STALE_INBOX_AFTER_MS = 60_000;
/** Per run, so that one invocation stays within its CPU and subrequest limits. */
export const SWEEP_LIMIT = 1000;
export const PURGE_BATCH = 1000;
export const PURGE_ROUNDS = 10;

/**
 * The Cron Trigger: whatever D1 says is due but the queues no longer carry
 * is sent again, so a lost message, a crash between a D1 write and an
 * enqueue, or a consumer exception can only delay a delivery. Then retention.
 */
export async function sweep(env: Env, now = Date.now()): Promise<{ requeued: number; inbox: number }> {
  const overdue = await overdueDeliveries(env.DB, now - OVERDUE_AFTER_MS, now, SWEEP_LIMIT);
  await scheduleRetries(env, overdue.results.map((r) => ({ id: r.id, at: now })), now);

  const inbox = await staleInbox(env.DB, now - STALE_INBOX_AFTER_MS, SWEEP_LIMIT);
  for (let i = 0; i < inbox.results.length; i += 100) {
    await env.CALLBACKS_QUEUE.sendBatch(
      inbox.results.slice(i, i + 100).map((r) => ({
        body: { t: "callback", ...r } satisfies CallbackMessage,
        contentType: "json" as const,
      })),
    );
  }

  await purge(env, now);
  return { requeued: overdue.results.length, inbox: inbox.results.length };
}

async function purge(env: Env, now: number): Promise<void> {
  const before = now - config(env).RETENTION_DAYS * 86_400_000;
  for (let round = 0; round < PURGE_ROUNDS; round++) {
    const results = await purgeOlderThan(env.DB, before, PURGE_BATCH);
    if (results.every((r) => (r.meta.changes ?? 0) < PURGE_BATCH)) return;
  }
}
