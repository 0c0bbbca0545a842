import { buildApp } from "../../src/app";
import { runDeliveries } from "../../src/consumer/run-deliveries";
import { storeCallbacks } from "../../src/consumer/store-callbacks";
import { expireEventRecords, purgeEventData } from "../../src/db/retention";
import { shardsOf } from "../../src/db/shards";
import type { Env } from "../../src/env";
import { eventIdFor } from "../../src/ingest/event-id";
import type { CallbackMessage, DeliveryMessage } from "../../src/queue-messages";

/** One statement as D1 ran it: which database, what it was, what D1 counted, and in which phase. */
interface Row {
  db: string;
  phase: string;
  sql: string;
  rows_read: number;
  rows_written: number;
  duration: number;
}

/** R2 calls by billing class (r2/pricing: put and list are Class A, get and head Class B, delete free). */
interface R2Count {
  classA: number;
  classB: number;
  free: number;
  putBytes: number;
}

interface Recording {
  statements: Row[];
  /** Round trips (prepare().run/all/first, or one batch()) per database: each is a subrequest. */
  d1Calls: Record<string, number>;
  /** Wall time of those round trips, as the Worker sees it. */
  d1WallMs: Record<string, number>;
  queueMessages: Record<string, number>;
  /** Bytes of the message bodies as JSON, per queue (Queues bills each 64 KB of a message). */
  queueBytes: Record<string, number>;
  r2: R2Count;
  /** Payload objects this call added to the bucket, listed before and after: how many and their bytes. */
  r2Objects: { count: number; bytes: number };
  /** Database sizes (D1's size_after) before and after the call, per database. */
  sizes: Record<string, { before: number | null; after: number | null }>;
  /** Which part of the call the statements being recorded belong to (store, retry, expire, idle). */
  phase: string;
}

/** The first words of a statement, with whitespace folded: enough to name it in a table. */
const nameOf = (sql: string) => sql.replace(/\s+/g, " ").trim().slice(0, 72);

/**
 * A D1 whose statements record their meta. Bound statements stay the real
 * objects (batch() needs them); only their run methods are wrapped.
 */
function recordingDb(db: D1Database, name: string, rec: Recording): D1Database {
  const sqlOf = new WeakMap<object, string>();
  const note = (sql: string, meta: D1Meta) =>
    rec.statements.push({ db: name, phase: rec.phase, sql: nameOf(sql), rows_read: meta.rows_read, rows_written: meta.rows_written, duration: meta.duration });
  const timed = async <T>(call: () => Promise<T>): Promise<T> => {
    const start = Date.now();
    try {
      return await call();
    } finally {
      rec.d1Calls[name] = (rec.d1Calls[name] ?? 0) + 1;
      rec.d1WallMs[name] = (rec.d1WallMs[name] ?? 0) + (Date.now() - start);
    }
  };
  const wrap = (stmt: D1PreparedStatement, sql: string): D1PreparedStatement => {
    sqlOf.set(stmt, sql);
    const bind = stmt.bind.bind(stmt);
    const all = stmt.all.bind(stmt);
    const run = stmt.run.bind(stmt);
    Object.assign(stmt, {
      bind: (...values: unknown[]) => wrap(bind(...values), sql),
      all: async () => {
        const r = await timed(all);
        note(sql, r.meta);
        return r;
      },
      run: async () => {
        const r = await timed(run);
        note(sql, r.meta);
        return r;
      },
      first: async (column?: string) => {
        const r = await timed(() => all<Record<string, unknown>>());
        note(sql, r.meta);
        const row = r.results[0] ?? null;
        return column === undefined ? row : (row?.[column] ?? null);
      },
    });
    return stmt;
  };
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => wrap(target.prepare(sql), sql);
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          const results = await timed(() => target.batch(statements));
          results.forEach((r, i) => note(sqlOf.get(statements[i]!) ?? "?", r.meta));
          return results;
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function recordingQueue<T>(queue: Queue<T>, name: string, rec: Recording): Queue<T> {
  const count = (bodies: unknown[]) => {
    rec.queueMessages[name] = (rec.queueMessages[name] ?? 0) + bodies.length;
    const bytes = bodies.reduce<number>((n, b) => n + new TextEncoder().encode(JSON.stringify(b)).byteLength, 0);
    rec.queueBytes[name] = (rec.queueBytes[name] ?? 0) + bytes;
  };
  return {
    send: async (body, options) => {
      count([body]);
      return queue.send(body, options);
    },
    sendBatch: async (messages, options) => {
      const list = [...messages];
      count(list.map((m) => m.body));
      return queue.sendBatch(list, options);
    },
    metrics: () => queue.metrics(),
  } as Queue<T>;
}

/** The bucket with each call counted by its billing class. */
function recordingBucket(bucket: R2Bucket, rec: Recording): R2Bucket {
  const classOf: Record<string, keyof Omit<R2Count, "putBytes">> = {
    put: "classA",
    list: "classA",
    createMultipartUpload: "classA",
    get: "classB",
    head: "classB",
    delete: "free",
  };
  return new Proxy(bucket, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      const cls = typeof prop === "string" ? classOf[prop] : undefined;
      if (cls === undefined) return value.bind(target);
      return (...args: unknown[]) => {
        rec.r2[cls]++;
        if (prop === "put") {
          const body = args[1];
          if (body instanceof Uint8Array || body instanceof ArrayBuffer) rec.r2.putBytes += body.byteLength;
          else if (typeof body === "string") rec.r2.putBytes += new TextEncoder().encode(body).byteLength;
        }
        return value.apply(target, args);
      };
    },
  });
}

function recordingEnv(env: Env): { env: Env; rec: Recording } {
  const rec: Recording = {
    statements: [],
    d1Calls: {},
    d1WallMs: {},
    queueMessages: {},
    queueBytes: {},
    r2: { classA: 0, classB: 0, free: 0, putBytes: 0 },
    r2Objects: { count: 0, bytes: 0 },
    sizes: {},
    phase: "",
  };
  const recEnv: Env = {
    ...env,
    DB: recordingDb(env.DB, "control", rec),
    STORE: recordingBucket(env.STORE, rec),
    CALLBACKS_QUEUE: recordingQueue(env.CALLBACKS_QUEUE, "callbacks", rec),
    DELIVERIES_QUEUE: recordingQueue(env.DELIVERIES_QUEUE, "deliveries", rec),
  };
  // Each event shard recorded under its binding name (the control database is "control").
  for (const shard of shardsOf(env)) {
    if (shard.name === "DB") continue;
    (recEnv as unknown as Record<string, D1Database>)[shard.name] = recordingDb(shard.db, shard.name, rec);
  }
  return { rec, env: recEnv };
}

/** Every database the Worker has, by the name the recording uses, with its size now. */
async function sizes(env: Env): Promise<Record<string, number | null>> {
  const dbs: [string, D1Database][] = [["control", env.DB], ...shardsOf(env).filter((s) => s.name !== "DB").map((s) => [s.name, s.db] as [string, D1Database])];
  const out: Record<string, number | null> = {};
  for (const [name, db] of dbs) out[name] = (await db.prepare("SELECT 1").run()).meta.size_after ?? null;
  return out;
}

/** The payload objects in the bucket now, key -> size (unrecorded: this is the measurement, not the relay). */
async function payloadObjects(env: Env): Promise<Map<string, number>> {
  const objects = new Map<string, number>();
  let cursor: string | undefined;
  do {
    const page = await env.STORE.list({ prefix: "payloads/", cursor });
    for (const o of page.objects) objects.set(o.key, o.size);
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return objects;
}

/** A stand-in for a queue message; the consumer only reads `body` and calls ack/retry. */
function message<T>(body: T, i: number): Message<T> {
  return {
    id: `m${i}`,
    timestamp: new Date(),
    body,
    attempts: 1,
    ack: () => undefined,
    retry: () => undefined,
  } as Message<T>;
}

const app = buildApp();

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    if (request.method !== "POST" || !url.pathname.startsWith("/__measure/")) return app.fetch(request, env, ctx);
    const input = (await request.json()) as { tenant: string; bodies?: string[]; token?: string; ageDays?: number };
    const { env: recEnv, rec } = recordingEnv(env);
    const shard = shardsOf(env)[0]!.db;
    const sizesBefore = await sizes(env);
    const objectsBefore = await payloadObjects(env);

    switch (url.pathname) {
      // What AiRudder's POSTs cost at the edge: each body through the relay's own ingest route.
      case "/__measure/ingest": {
        for (const body of input.bodies!) {
          const res = await app.fetch(
            new Request(`http://relay.local/v1/callbacks/${input.tenant}/inbound-transfer?token=${encodeURIComponent(input.token!)}`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body,
            }),
            recEnv,
            ctx,
          );
          if (res.status !== 200) return new Response(`ingest answered ${res.status}: ${await res.text()}`, { status: 500 });
        }
        break;
      }
      // One consumer batch: store, deliveries, claim, first attempts, outcomes.
      case "/__measure/store": {
        const now = Date.now();
        const messages = await Promise.all(
          input.bodies!.map(async (body, i) =>
            message<CallbackMessage>(
              {
                t: "callback",
                event_id: await eventIdFor(input.tenant, body),
                tenant_id: input.tenant,
                kind: "inbound-transfer",
                type: "airudder.inbound.transfer",
                received_at: now + i,
                body,
              },
              i,
            ),
          ),
        );
        rec.phase = "store";
        await storeCallbacks(messages, recEnv, ctx);
        break;
      }
      // One retry batch for every failed delivery of the tenant, made due now.
      case "/__measure/retry": {
        const due = await shard
          .prepare("UPDATE deliveries SET next_attempt_at = ?2 WHERE tenant_id = ?1 AND status = 'failed' RETURNING id")
          .bind(input.tenant, Date.now())
          .all<{ id: string }>();
        rec.phase = "retry";
        await runDeliveries(
          due.results.map((r, i) => message<DeliveryMessage>({ t: "delivery", delivery_id: r.id }, i)),
          recEnv,
          ctx,
        );
        break;
      }
      // Retention: the tenant's events and attempts made `ageDays` old, then what the sweep runs on a
      // shard (src/maintenance/sweep.ts): the purge (attempt bodies) and the tenant's expiry (event,
      // delivery and attempt rows), twice: the second run has nothing left to do.
      case "/__measure/expire": {
        const shift = (input.ageDays ?? 31) * 86_400_000;
        await shard.batch([
          shard.prepare("UPDATE events SET received_at = received_at - ?2 WHERE tenant_id = ?1").bind(input.tenant, shift),
          shard
            .prepare("UPDATE attempts SET at = at - ?2 WHERE delivery_id IN (SELECT id FROM deliveries WHERE tenant_id = ?1)")
            .bind(input.tenant, shift),
        ]);
        const cutoff = Date.now() - 30 * 86_400_000;
        const recShard = shardsOf(recEnv)[0]!.db;
        for (const run of ["expire", "idle"]) {
          rec.phase = run;
          await purgeEventData(recShard, cutoff, 1000);
          await expireEventRecords(recShard, [input.tenant], cutoff, 1000);
        }
        break;
      }
      case "/__measure/size":
        break;
      default:
        return new Response("not found", { status: 404 });
    }
    const sizesAfter = await sizes(env);
    for (const name of Object.keys(sizesBefore)) rec.sizes[name] = { before: sizesBefore[name] ?? null, after: sizesAfter[name] ?? null };
    for (const [key, size] of await payloadObjects(env)) {
      if (objectsBefore.get(key) === size) continue;
      rec.r2Objects.count++;
      rec.r2Objects.bytes += size - (objectsBefore.get(key) ?? 0);
    }
    return Response.json(rec);
  },
} satisfies ExportedHandler<Env>;
