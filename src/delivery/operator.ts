import {
  abandonOfDestinationChunk,
  failedDeliveriesSince,
  releaseHeldChunk,
  replayDelivery,
  restartDeliveries,
} from "../db/deliveries";
import type { Env } from "../env";
import type { DeliveryJob } from "../queue-messages";
import { deliveryIdFor } from "./routing";
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

/** One chunk of a job; answers what it did and where the next chunk starts (null: done). */
async function runChunk(env: Env, job: DeliveryJob): Promise<{ queued: number; held: number; next: DeliveryJob | null }> {
  const now = Date.now();
  if (job.job === "recover") {
    const page = (await failedDeliveriesSince(env.DB, job.destination_id, job.since ?? 0, job.after ?? null, CHUNK)).results;
    const restarted = page.length ? (await restartDeliveries(env.DB, page.map((r) => r.id), now)).results : [];
    const queued = await queueDue(env, restarted, now);
    const last = page.at(-1);
    return { queued, held: restarted.length - queued, next: page.length === CHUNK && last ? { ...job, after: { created_at: last.created_at, id: last.id } } : null };
  }
  if (job.job === "release") {
    const released = (await releaseHeldChunk(env.DB, job.destination_id, now, CHUNK)).results;
    await scheduleRetries(env, released.map((r) => ({ id: r.id, at: now })), now);
    return { queued: released.length, held: 0, next: released.length === CHUNK ? job : null };
  }
  const abandoned = (await abandonOfDestinationChunk(env.DB, job.destination_id, now, CHUNK)).results;
  return { queued: 0, held: 0, next: abandoned.length === CHUNK ? job : null };
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
  const rows = (await restartDeliveries(env.DB, [id], now)).results;
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
  event: { id: string; tenant_id: string },
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
  const results = await env.DB.batch(rows.map((r) => replayDelivery(env.DB, r, now)));
  const replayed = results.flatMap((r) => r.results as { id: string; status: string }[]);
  await queueDue(env, replayed, now);
  const done = new Set(replayed.map((r) => r.id));
  return { replayed: rows.filter((r) => done.has(r.id)).map((r) => r.id), inFlight: rows.filter((r) => !done.has(r.id)).map((r) => r.id) };
}
