import { destinationsWithHeldToRelease, requeueOverdue } from "../db/deliveries";
import { staleInbox } from "../db/inbox";
import { enabledDestinationIds } from "../db/destinations";
import { expireEventRecords, purgeControlData, purgeEventData } from "../db/retention";
import { onEveryShard, shardsOf } from "../db/shards";
import { listTenants } from "../db/tenants";
import { OVERDUE_AFTER_MS } from "../delivery/lifecycle";
import { runJob } from "../delivery/operator";
import { scheduleRetries } from "../delivery/schedule-retries";
import { config, type Env } from "../env";
import type { CallbackMessage } from "../queue-messages";
import { watchStorage } from "../storage/outage";
import { deletePayloadsBefore } from "../storage/payloads";
import { redriveDeadLetters } from "./redrive";

/** An inbox body this old was never picked up by a consumer. */
export const STALE_INBOX_AFTER_MS = 60_000;
/** Per run, so that one invocation stays within its CPU and subrequest limits. */
export const SWEEP_LIMIT = 1000;
export const PURGE_BATCH = 1000;
export const PURGE_ROUNDS = 10;
/** Payload objects one sweep deletes at most (one R2 delete call takes up to 1,000 keys). */
export const PAYLOAD_OBJECTS_PER_SWEEP = 1000;

/** Destinations whose held deliveries one sweep starts releasing (each release goes on by itself, chunk by chunk). */
export const RELEASES_PER_SWEEP = 20;

/**
 * The Cron Trigger: whatever D1 says is due but the queues no longer carry
 * is sent again, so a lost message, a crash between a D1 write and an
 * enqueue, or a consumer exception can only delay a delivery; a release cut
 * short, or a delivery stored held just as its destination was enabled,
 * is released; dead-lettered callbacks and jobs go back to their queue
 * (src/maintenance/redrive.ts). Then retention.
 */
export async function sweep(
  env: Env,
  now = Date.now(),
): Promise<{ requeued: number; inbox: number; releasing: number; redriven: number; storage: Awaited<ReturnType<typeof watchStorage>> }> {
  const storage = await watchStorage(env, now);
  // Nothing below can be done while D1 refuses writes; the next sweep looks again.
  if (!storage.d1_writable) return { requeued: 0, inbox: 0, releasing: 0, redriven: 0, storage };
  const overdue = (await onEveryShard(env, async (shard) => (await requeueOverdue(shard.db, now - OVERDUE_AFTER_MS, now, SWEEP_LIMIT)).results)).flat();
  await scheduleRetries(env, overdue.map((r) => ({ id: r.id, at: now })), now);

  const enabled = (await enabledDestinationIds(env.DB)).results.map((d) => d.id);
  const withHeld = enabled.length
    ? await onEveryShard(env, async (shard) => (await destinationsWithHeldToRelease(shard.db, enabled, RELEASES_PER_SWEEP)).results.map((d) => d.id))
    : [];
  const toRelease = [...new Set(withHeld.flat())].slice(0, RELEASES_PER_SWEEP);
  for (const id of toRelease) await runJob(env, { t: "job", job: "release", destination_id: id }, 1);

  const inbox = await staleInbox(env.DB, now - STALE_INBOX_AFTER_MS, SWEEP_LIMIT);
  for (let i = 0; i < inbox.results.length; i += 100) {
    await env.CALLBACKS_QUEUE.sendBatch(
      inbox.results.slice(i, i + 100).map((r) => ({
        body: { t: "callback", ...r } satisfies CallbackMessage,
        contentType: "json" as const,
      })),
    );
  }

  const redriven = await redriveDeadLetters(env);

  await purge(env, now);
  return { requeued: overdue.length, inbox: inbox.results.length, releasing: toRelease.length, redriven, storage };
}

async function purge(env: Env, now: number): Promise<void> {
  const cfg = config(env);
  const before = now - cfg.RETENTION_DAYS * 86_400_000;
  const full = (results: D1Result[]) => results.some((r) => (r.meta.changes ?? 0) >= PURGE_BATCH);
  for (const db of [env.DB, ...shardsOf(env).map((s) => s.db)]) {
    const purge = db === env.DB ? purgeControlData : purgeEventData;
    for (let round = 0; round < PURGE_ROUNDS && full(await purge(db, before, PURGE_BATCH)); round++);
  }
  await deletePayloadsBefore(env, before, PAYLOAD_OBJECTS_PER_SWEEP);
  const recordsBefore = now - cfg.METADATA_RETENTION_DAYS * 86_400_000;
  for (let after = ""; ; ) {
    const tenants = (await listTenants(env.DB, after, 100)).results;
    const tenantIds = tenants.map((t) => t.id);
    for (const shard of shardsOf(env)) {
      for (let round = 0; round < PURGE_ROUNDS; round++) {
        const [, , events] = await expireEventRecords(shard.db, tenantIds, recordsBefore, PURGE_BATCH);
        if ((events!.meta.changes ?? 0) < PURGE_BATCH) break;
      }
    }
    if (tenants.length < 100) return;
    after = tenants.at(-1)!.id;
  }
}
