import { buildApp } from "../../src/app";
import { runDeliveries } from "../../src/consumer/run-deliveries";
import { storeCallbacks } from "../../src/consumer/store-callbacks";
import { expireEventRecords, purgeEventData } from "../../src/db/retention";
import type { Env } from "../../src/env";
import { eventIdFor } from "../../src/ingest/event-id";
import type { CallbackMessage, DeliveryMessage } from "../../src/queue-messages";

/** One statement as D1 ran it: what it was, and what D1 counted. */
interface Row {
  sql: string;
  rows_read: number;
  rows_written: number;
  duration: number;
}

interface Recording {
  statements: Row[];
  queueMessages: Record<string, number>;
  sizeAfter: number | null;
}

/** The first words of a statement, with whitespace folded: enough to name it in a table. */
const nameOf = (sql: string) => sql.replace(/\s+/g, " ").trim().slice(0, 72);

/**
 * A D1 whose statements record their meta. Bound statements stay the real
 * objects (batch() needs them); only their run methods are wrapped.
 */
function recordingDb(db: D1Database, rec: Recording): D1Database {
  const sqlOf = new WeakMap<object, string>();
  const note = (sql: string, meta: D1Meta) => {
    rec.statements.push({ sql: nameOf(sql), rows_read: meta.rows_read, rows_written: meta.rows_written, duration: meta.duration });
    if (typeof meta.size_after === "number") rec.sizeAfter = meta.size_after;
  };
  const wrap = (stmt: D1PreparedStatement, sql: string): D1PreparedStatement => {
    sqlOf.set(stmt, sql);
    const bind = stmt.bind.bind(stmt);
    const all = stmt.all.bind(stmt);
    const run = stmt.run.bind(stmt);
    Object.assign(stmt, {
      bind: (...values: unknown[]) => wrap(bind(...values), sql),
      all: async () => {
        const r = await all();
        note(sql, r.meta);
        return r;
      },
      run: async () => {
        const r = await run();
        note(sql, r.meta);
        return r;
      },
      first: async (column?: string) => {
        const r = await all<Record<string, unknown>>();
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
          const results = await target.batch(statements);
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
  const count = (n: number) => (rec.queueMessages[name] = (rec.queueMessages[name] ?? 0) + n);
  return {
    send: async (body, options) => {
      count(1);
      return queue.send(body, options);
    },
    sendBatch: async (messages, options) => {
      const list = [...messages];
      count(list.length);
      return queue.sendBatch(list, options);
    },
    metrics: () => queue.metrics(),
  } as Queue<T>;
}

function recordingEnv(env: Env): { env: Env; rec: Recording } {
  const rec: Recording = { statements: [], queueMessages: {}, sizeAfter: null };
  return {
    rec,
    env: {
      ...env,
      DB: recordingDb(env.DB, rec),
      CALLBACKS_QUEUE: recordingQueue(env.CALLBACKS_QUEUE, "callbacks", rec),
      DELIVERIES_QUEUE: recordingQueue(env.DELIVERIES_QUEUE, "deliveries", rec),
    },
  };
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
    const input = (await request.json()) as { tenant: string; bodies?: string[]; ageDays?: number };
    const { env: recEnv, rec } = recordingEnv(env);
    const before = (await env.DB.prepare("SELECT 1").run()).meta.size_after;

    switch (url.pathname) {
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
        await storeCallbacks(messages, recEnv, ctx);
        break;
      }
      // One retry batch for every failed delivery of the tenant, made due now.
      case "/__measure/retry": {
        const due = await env.DB.prepare(
          "UPDATE deliveries SET next_attempt_at = ?2 WHERE tenant_id = ?1 AND status = 'failed' RETURNING id",
        )
          .bind(input.tenant, Date.now())
          .all<{ id: string }>();
        await runDeliveries(
          due.results.map((r, i) => message<DeliveryMessage>({ t: "delivery", delivery_id: r.id }, i)),
          recEnv,
          ctx,
        );
        break;
      }
      // Retention: the tenant's events and attempts made `ageDays` old, then the sweep's purge
      // (attempt bodies) and expiry (event, delivery and attempt rows), each twice.
      case "/__measure/purge": {
        const shift = (input.ageDays ?? 31) * 86_400_000;
        await env.DB.batch([
          env.DB.prepare("UPDATE events SET received_at = received_at - ?2 WHERE tenant_id = ?1").bind(input.tenant, shift),
          env.DB.prepare(
            "UPDATE attempts SET at = at - ?2 WHERE delivery_id IN (SELECT id FROM deliveries WHERE tenant_id = ?1)",
          ).bind(input.tenant, shift),
        ]);
        const cutoff = Date.now() - 30 * 86_400_000;
        for (let run = 0; run < 2; run++) {
          await purgeEventData(recEnv.DB, cutoff, 1000);
          await expireEventRecords(recEnv.DB, input.tenant, cutoff, 1000);
        }
        break;
      }
      case "/__measure/size":
        break;
      default:
        return new Response("not found", { status: 404 });
    }
    return Response.json({ ...rec, sizeBefore: before });
  },
} satisfies ExportedHandler<Env>;
