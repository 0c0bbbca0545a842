import {
  abandonOfDestinationChunk,
  failedDeliveriesSince,
  releaseHeldChunk,
  replayDelivery,
  destinationStates,
  restartDeliveries,
} from "../db/deliveries";
import { destinationsByIds, getDestination, type DestinationRow } from "../db/destinations";
import { onEveryShard, shardsOf, type Shard } from "../db/shards";
import type { Env } from "../env";
import type { DeliveryJob } from "../queue-messages";
import { deliveryIdFor, destinationIdOf } from "./routing";
import { scheduleRetries } from "./schedule-retries";

/**
 * Rows one statement of an operator action touches. Well within D1's 30 s
 * per statement however large the backlog; a bigger job goes on chunk by
 * chunk through the deliveries queue (DeliveryJob), so it resumes after any
 * failure instead of failing on exactly the large cases.
 */
export const CHUNK = 500;
/** Chunks an admin request does itself before it hands the rest to the queue. */
export const CHUNKS_IN_REQUEST = 4;

export interface JobProgress {
  queued: number;
  held: number;
  /** More remains; it goes on in the background. */
  continuing: boolean;
}

async function queueDue(env: Env, rows: readonly { id: string; status: string }[], now: number): Promise<number> {
  const due = rows.filter((r) => r.status === "pending");
  await scheduleRetries(env, due.map((r) => ({ id: r.id, at: now })), now);
  return due.length;
}

interface ShardStep {
  /** Rows this step took (recovered, released or abandoned). */
  done: number;
  /** Deliveries now pending, to queue. */
  due: { id: string; created_at: number }[];
  held: number;
  /** Where a recover's page ended, to go on from. */
  last?: { created_at: number; id: string };
}

/** Up to `room` rows of one job in one shard. */
async function stepIn(shard: Shard, job: DeliveryJob, destination: DestinationRow | null, room: number, now: number): Promise<ShardStep> {
  if (job.job === "recover") {
    const page = (await failedDeliveriesSince(shard.db, job.destination_id, job.since ?? 0, job.after ?? null, room)).results;
    const states = destinationStates(destination ? [destination] : []);
    const restarted = page.length ? (await restartDeliveries(shard.db, page.map((r) => r.id), now, states)).results : [];
    const createdAt = new Map(page.map((r) => [r.id, r.created_at]));
    const due = restarted.filter((r) => r.status === "pending").map((r) => ({ id: r.id, created_at: createdAt.get(r.id)! }));
    const last = page.at(-1);
    return { done: page.length, due, held: restarted.length - due.length, ...(last ? { last: { created_at: last.created_at, id: last.id } } : {}) };
  }
  if (job.job === "release") {
    // Paused again since: what is still held waits for the next resume.
    if (destination?.enabled !== 1) return { done: 0, due: [], held: 0 };
    const released = (await releaseHeldChunk(shard.db, job.destination_id, now, room)).results;
    return { done: released.length, due: released, held: 0 };
  }
  return { done: (await abandonOfDestinationChunk(shard.db, job.destination_id, now, room)).results.length, due: [], held: 0 };
}

/**
 * One chunk of a job: up to CHUNK rows, from the job's shard onward (a shard
 * with fewer left hands the rest of the chunk to the next one). What became
 * due is queued oldest first across the shards. Answers what it did and where
 * the next chunk starts (null: done).
 */
async function runChunk(env: Env, job: DeliveryJob): Promise<{ queued: number; held: number; next: DeliveryJob | null }> {
  const now = Date.now();
  const destination = await getDestination(env.DB, job.destination_id);
  const due: { id: string; created_at: number }[] = [];
  let held = 0;
  let taken = 0;
  let at: DeliveryJob = job;
  let next: DeliveryJob | null = null;
  for (const shard of shardsOf(env).slice(job.shard ?? 0)) {
    const room = CHUNK - taken;
    const step = await stepIn(shard, at, destination, room, now);
    taken += step.done;
    due.push(...step.due);
    held += step.held;
    if (step.done === room) {
      next = { ...at, shard: shard.index, ...(step.last ? { after: step.last } : {}) };
      break;
    }
    at = { ...job, after: undefined };
  }
  due.sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
  await scheduleRetries(env, due.map((d) => ({ id: d.id, at: now })), now);
  return { queued: due.length, held, next };
}

/** Runs a job for up to `chunks` chunks, then sends the rest on as a queue message. */
export async function runJob(env: Env, job: DeliveryJob, chunks = CHUNKS_IN_REQUEST): Promise<JobProgress> {
  const progress: JobProgress = { queued: 0, held: 0, continuing: false };
  let current: DeliveryJob | null = job;
  for (let i = 0; current && i < chunks; i++) {
    const r = await runChunk(env, current);
    progress.queued += r.queued;
    progress.held += r.held;
    current = r.next;
  }
  if (current) {
    await env.DELIVERIES_QUEUE.send(current, { contentType: "json" });
    progress.continuing = true;
  }
  return progress;
}

/** `restart` of one delivery (operator retry): answers whether it was queued, or why not. */
export async function retryDelivery(env: Env, id: string): Promise<{ queued: number } | null> {
  const now = Date.now();
  const states = destinationStates((await destinationsByIds(env.DB, [destinationIdOf(id)]).all<DestinationRow>()).results);
  const rows = (await onEveryShard(env, async (shard) => (await restartDeliveries(shard.db, [id], now, states)).results)).flat();
  if (rows.length === 0) return null;
  return { queued: await queueDue(env, rows, now) };
}

/**
 * `replay`: delivers an event again to the given destinations under the same
 * `webhook-id`: an existing delivery starts its schedule over, a missing one
 * (a destination added since) is created. Deliveries with an attempt in
 * flight are left alone and answered apart.
 */
export async function replayEvent(
  env: Env,
  event: { id: string; tenant_id: string; shard: Shard },
  destinationIds: readonly string[],
): Promise<{ replayed: string[]; inFlight: string[] }> {
  const now = Date.now();
  const rows = destinationIds.map((destination_id) => ({
    id: deliveryIdFor(event.id, destination_id),
    event_id: event.id,
    destination_id,
    tenant_id: event.tenant_id,
  }));
  if (rows.length === 0) return { replayed: [], inFlight: [] };
  const enabled = new Set(
    (await destinationsByIds(env.DB, destinationIds).all<DestinationRow>()).results.filter((d) => d.enabled === 1).map((d) => d.id),
  );
  const db = event.shard.db;
  const results = await db.batch(rows.map((r) => replayDelivery(db, r, now, enabled.has(r.destination_id))));
  const replayed = results.flatMap((r) => r.results as { id: string; status: string }[]);
  await queueDue(env, replayed, now);
  const done = new Set(replayed.map((r) => r.id));
  return { replayed: rows.filter((r) => done.has(r.id)).map((r) => r.id), inFlight: rows.filter((r) => !done.has(r.id)).map((r) => r.id) };
}
