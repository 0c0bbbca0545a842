import { insertDeadLetter } from "../db/dead-letters";
import { everyDatabase } from "../db/shards";
import { probeWrite } from "../db/storage-probe";
import { sendAlert } from "../delivery/alerts";
import type { Env } from "../env";
import type { CallbackMessage } from "../queue-messages";

/*
 * What keeps a callback answered 200 when D1 refuses writes (down, or full):
 * the consumer puts its batch in R2 (`spool/`) and acks, and the sweep hands
 * the spool back to the callbacks queue once D1 takes a write again, where
 * storage is idempotent as ever. Dead letters fall back to R2 the same way.
 * `state/storage.json` remembers since when D1 has refused, for the alerts
 * and /healthz. R2 is touched only while something is wrong.
 */

const SPOOL = "spool/";
const DEAD_LETTERS = "dead-letters/";
const STATE = "state/storage.json";

/** How long D1 must refuse writes before the operator is told. */
export const UNAVAILABLE_ALERT_AFTER_MS = 60_000;
/**
 * Spool objects one sweep hands back (each a consumer batch, up to 100
 * callbacks): a get, a send or two and a delete each, well inside an
 * invocation's subrequests. At 50, an hour's outage of small batches took
 * two hours to hand back.
 */
export const DRAIN_PER_SWEEP = 150;
/** A D1 database's size limit, and the share of it that warns. */
export const D1_MAX_BYTES = 10 * 1024 ** 3;
export const NEARLY_FULL_SHARE = 0.8;

/** A D1 call that failed: the storage, not the message, is the problem. */
export class StorageUnavailable extends Error {
  constructor(cause: unknown) {
    super(`D1 refused: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Runs a D1 call, turning its failure into StorageUnavailable. */
export async function fromD1<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw new StorageUnavailable(err);
  }
}

interface StorageState {
  failing_since: number;
  alerted: boolean;
  /** Set once D1 takes writes again, while the spool is handed back. */
  writable_since?: number;
  /** Callbacks handed back from R2 so far. */
  handed_back?: number;
}

const sortableNow = (now: number) => now.toString().padStart(15, "0");

export async function storageState(env: Env): Promise<StorageState | null> {
  const object = await env.STORE.get(STATE);
  return object ? ((await object.json()) as StorageState) : null;
}

async function markFailing(env: Env, now: number): Promise<void> {
  if (!(await env.STORE.head(STATE))) {
    await env.STORE.put(STATE, JSON.stringify({ failing_since: now, alerted: false } satisfies StorageState));
  }
}

/** Keeps a batch of callbacks in R2; resolved means they are durable and may be acked. */
export async function spoolCallbacks(env: Env, messages: readonly CallbackMessage[], now: number): Promise<void> {
  await env.STORE.put(`${SPOOL}${sortableNow(now)}-${crypto.randomUUID()}.json`, JSON.stringify(messages));
  await markFailing(env, now);
}

/** Keeps dead letters in R2 when D1 cannot record them. */
export async function spoolDeadLetters(env: Env, queue: string, messages: readonly Message<unknown>[], now: number): Promise<void> {
  await env.STORE.put(
    `${DEAD_LETTERS}${sortableNow(now)}-${crypto.randomUUID()}.json`,
    JSON.stringify(messages.map((m) => ({ id: m.id, queue, body: JSON.stringify(m.body) ?? "undefined" }))),
  );
  await markFailing(env, now);
}

/** A sendBatch takes at most 100 messages and 256 KB in all; a margin is left for framing. */
const SEND_BATCH_MAX_MESSAGES = 100;
const SEND_BATCH_MAX_BYTES = 200_000;

function sendBatches(messages: readonly CallbackMessage[]): CallbackMessage[][] {
  const batches: CallbackMessage[][] = [];
  let current: CallbackMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = new TextEncoder().encode(JSON.stringify(m)).byteLength;
    if (current.length && (current.length === SEND_BATCH_MAX_MESSAGES || bytes + size > SEND_BATCH_MAX_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length) batches.push(current);
  return batches;
}

/** The control database and every shard take a write. */
async function d1TakesWrites(env: Env, now: number): Promise<boolean> {
  try {
    await Promise.all(everyDatabase(env).map((db) => probeWrite(db, now)));
    return true;
  } catch {
    return false;
  }
}

/** Hands spooled callbacks back to the queue and records spooled dead letters in D1, oldest first. */
async function drain(env: Env, now: number): Promise<number> {
  let drained = 0;
  const spool = await env.STORE.list({ prefix: SPOOL, limit: DRAIN_PER_SWEEP });
  for (const entry of spool.objects) {
    const object = await env.STORE.get(entry.key);
    if (object) {
      const messages = (await object.json()) as CallbackMessage[];
      for (const chunk of sendBatches(messages)) {
        await env.CALLBACKS_QUEUE.sendBatch(chunk.map((body) => ({ body, contentType: "json" as const })));
      }
      drained += messages.length;
    }
    await env.STORE.delete(entry.key);
  }
  const letters = await env.STORE.list({ prefix: DEAD_LETTERS, limit: DRAIN_PER_SWEEP });
  for (const entry of letters.objects) {
    const object = await env.STORE.get(entry.key);
    if (object) {
      const rows = (await object.json()) as { id: string; queue: string; body: string }[];
      await env.DB.batch(rows.map((r) => insertDeadLetter(env.DB, r.id, r.queue, r.body, now)));
    }
    await env.STORE.delete(entry.key);
  }
  return drained;
}

/**
 * The sweep's first step. While D1 refuses writes: alert once it has done so
 * for a minute. Once it takes them: hand the spool back, and when nothing is
 * left, say it has recovered. Answers what /healthz would say.
 */
export async function watchStorage(env: Env, now: number): Promise<{ d1_writable: boolean; handed_back: number }> {
  const state = await storageState(env);
  if (!state) return { d1_writable: true, handed_back: 0 };
  if (!(await d1TakesWrites(env, now))) {
    // Refusing again while the spool was being handed back: still the same outage.
    const { writable_since: wasWritable, ...refusing } = state;
    const alert = !state.alerted && now - state.failing_since >= UNAVAILABLE_ALERT_AFTER_MS;
    if (alert) {
      await sendAlert(env, "relay.storage.unavailable", {
        since: new Date(state.failing_since).toISOString(),
        kept_in_r2: (await env.STORE.list({ prefix: SPOOL, limit: 1000 })).objects.length,
      });
    }
    if (alert || wasWritable !== undefined) {
      await env.STORE.put(STATE, JSON.stringify({ ...refusing, alerted: state.alerted || alert } satisfies StorageState));
    }
    return { d1_writable: false, handed_back: 0 };
  }
  const handedBack = await drain(env, now);
  const [spool, letters] = await Promise.all([
    env.STORE.list({ prefix: SPOOL, limit: 1 }),
    env.STORE.list({ prefix: DEAD_LETTERS, limit: 1 }),
  ]);
  const total = (state.handed_back ?? 0) + handedBack;
  if (spool.objects.length === 0 && letters.objects.length === 0) {
    if (state.alerted) {
      await sendAlert(env, "relay.storage.recovered", {
        since: new Date(state.failing_since).toISOString(),
        handed_back: total,
      });
    }
    await env.STORE.delete(STATE);
  } else {
    await env.STORE.put(STATE, JSON.stringify({ ...state, writable_since: state.writable_since ?? now, handed_back: total } satisfies StorageState));
  }
  return { d1_writable: true, handed_back: handedBack };
}

/** What /healthz says is degraded (an R2 read per call; nothing of D1). */
export async function degraded(env: Env): Promise<string[]> {
  const state = await storageState(env).catch(() => null);
  if (!state) return [];
  if (state.writable_since !== undefined) {
    return [
      `storage: D1 takes writes again since ${new Date(state.writable_since).toISOString()} (it refused them from ${new Date(state.failing_since).toISOString()}); ` +
        `the callbacks kept in R2 meanwhile are being handed back to the queue (${state.handed_back ?? 0} so far)`,
    ];
  }
  return [`storage: D1 has refused writes since ${new Date(state.failing_since).toISOString()}; callbacks are still taken and kept in R2 until it takes them again`];
}

/** `relay.storage.nearly_full` when a write leaves the database past NEARLY_FULL_SHARE of its limit, at most once a day. */
export async function checkSize(env: Env, database: string, sizeAfter: number | undefined, now: number): Promise<void> {
  if (sizeAfter === undefined || sizeAfter < D1_MAX_BYTES * NEARLY_FULL_SHARE) return;
  const key = `state/nearly-full-${database}.json`;
  const last = await env.STORE.get(key);
  if (last && now - ((await last.json()) as { at: number }).at < 86_400_000) return;
  await env.STORE.put(key, JSON.stringify({ at: now }));
  await sendAlert(env, "relay.storage.nearly_full", {
    database,
    size_bytes: sizeAfter,
    limit_bytes: D1_MAX_BYTES,
  });
}
