import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../src/env";
import worker from "../src/index";
import { sweep } from "../src/maintenance/sweep";
import { MAX_REDRIVES, type CallbackMessage } from "../src/queue-messages";
import { checkSize, D1_MAX_BYTES, DRAIN_PER_SWEEP, UNAVAILABLE_ALERT_AFTER_MS } from "../src/storage/outage";
import { callbackMessage, cleanedUpAfterEach, createTenant, uniqueId, waitUntil } from "./helpers";
import { everyDatabase } from "./every-database";

const { crm, destination } = cleanedUpAfterEach();

afterEach(async () => {
  const all = await env.STORE.list();
  for (const o of all.objects) await env.STORE.delete(o.key);
});

/** D1 as it is when full: reads work, every write batch is refused. */
const refusingWrites = (db: D1Database) =>
  new Proxy(db, {
    get(target, prop) {
      if (prop === "batch") return () => Promise.reject(new Error("D1_ERROR: database or disk is full: SQLITE_FULL"));
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });

/** The env with every database (control and shards) refusing writes, or, with `full` false, taking them again. */
function outageEnv(vars: Partial<Record<keyof Env, string>> = {}, full = true) {
  const databases = full ? { DB: refusingWrites(env.DB), EVENTS_0: refusingWrites(env.EVENTS_0), EVENTS_1: refusingWrites(env.EVENTS_1) } : {};
  const handedBack: CallbackMessage[] = [];
  const batchBytes: number[] = [];
  const queue = {
    send: async (body: CallbackMessage) => void handedBack.push(body),
    sendBatch: async (messages: Iterable<MessageSendRequest<CallbackMessage>>) => {
      const list = [...messages];
      batchBytes.push(new TextEncoder().encode(JSON.stringify(list.map((m) => m.body))).byteLength);
      handedBack.push(...list.map((m) => m.body));
    },
  };
  return { env: { ...env, ...vars, ...databases, CALLBACKS_QUEUE: queue as unknown as Queue<CallbackMessage> } as Env, handedBack, batchBytes };
}

const smallCallback = (tenantId: string) => callbackMessage(tenantId, JSON.stringify({ callid: uniqueId("call"), transfer_status: "2" }));

async function consume(queue: string, bodies: unknown[], e: Env) {
  const batch = createMessageBatch(queue, bodies.map((body, i) => ({ id: uniqueId(`m${i}`), timestamp: new Date(), attempts: 1, body })));
  const ctx = createExecutionContext();
  await worker.queue(batch, e, ctx);
  return getQueueResult(batch, ctx);
}

const eventExists = async (id: string) => (await everyDatabase.prepare("SELECT COUNT(*) AS n FROM events WHERE id = ?1").bind(id).first<{ n: number }>())!.n === 1;
const healthz = async (e: Env) => (await worker.fetch(new Request("https://relay.test/healthz"), e, createExecutionContext())).json() as Promise<{ ok: boolean; degraded: string[] }>;

describe("D1 refusing writes", () => {
  it("for longer than the callbacks queue's retries loses nothing: the batch is kept in R2 and acked, the operator is told after a minute, and once D1 takes writes the sweep hands it back and it is delivered", async () => {
    const alerts = crm();
    const far = crm();
    const tenant = await createTenant();
    await destination(tenant, { url: far.url() });
    const vars = { ALERT_WEBHOOK_URL: alerts.url("/alerts") };
    const down = outageEnv(vars);
    const messages = [await smallCallback(tenant.id), await smallCallback(tenant.id)];

    const result = await consume("airudder-relay-callbacks", messages, down.env);
    expect(result.explicitAcks).toHaveLength(2);
    expect(result.retryMessages).toEqual([]);
    expect((await env.STORE.list({ prefix: "spool/" })).objects).toHaveLength(1);
    for (const m of messages) expect(await eventExists(m.event_id)).toBe(false);
    expect((await healthz(down.env)).degraded).toEqual([expect.stringMatching(/^storage: D1 has refused writes since /)]);

    // Within the minute: no alert yet. Past it: one, and only one.
    await sweep(down.env, Date.now());
    expect(alerts.requests).toHaveLength(0);
    const later = Date.now() + UNAVAILABLE_ALERT_AFTER_MS + 1000;
    await sweep(down.env, later);
    await sweep(down.env, later + 60_000);
    expect(alerts.requests.map((r) => JSON.parse(r.body).type)).toEqual(["relay.storage.unavailable"]);
    expect(JSON.parse(alerts.requests[0]!.body)).toMatchObject({ tenant: null, data: { kept_in_r2: 1 } });

    // D1 is back: the sweep hands the spool to the queue, the consumer stores and delivers it.
    const up = outageEnv(vars, false);
    const back = await sweep(up.env);
    expect(back.storage).toEqual({ d1_writable: true, handed_back: 2 });
    expect(up.handedBack.map((m) => m.event_id)).toEqual(messages.map((m) => m.event_id));
    await consume("airudder-relay-callbacks", up.handedBack, up.env);
    for (const m of messages) expect(await eventExists(m.event_id)).toBe(true);
    await waitUntil(async () => far.requests.length === 2);
    expect(alerts.requests.map((r) => JSON.parse(r.body).type)).toEqual(["relay.storage.unavailable", "relay.storage.recovered"]);
    expect((await healthz(up.env)).degraded).toEqual([]);
  });

  it("a spool larger than one sweep hands back: /healthz says D1 takes writes again while it drains, and the recovered alert counts every callback", async () => {
    const alerts = crm();
    const tenant = await createTenant();
    const vars = { ALERT_WEBHOOK_URL: alerts.url("/alerts") };
    const down = outageEnv(vars);
    expect((await consume("airudder-relay-callbacks", [await smallCallback(tenant.id)], down.env)).explicitAcks).toHaveLength(1);
    // As many more consumer batches as one sweep hands back, kept while D1 refused them.
    for (let i = 0; i < DRAIN_PER_SWEEP; i++) {
      await env.STORE.put(`spool/${String(Date.now() + i).padStart(15, "0")}-${uniqueId("b")}.json`, JSON.stringify([await smallCallback(tenant.id)]));
    }
    await sweep(down.env, Date.now() + UNAVAILABLE_ALERT_AFTER_MS + 1000);
    expect(alerts.requests.map((r) => JSON.parse(r.body).type)).toEqual(["relay.storage.unavailable"]);

    const up = outageEnv(vars, false);
    expect((await sweep(up.env)).storage).toEqual({ d1_writable: true, handed_back: DRAIN_PER_SWEEP });
    expect((await healthz(up.env)).degraded).toEqual([
      expect.stringMatching(new RegExp(`^storage: D1 takes writes again since .*; the callbacks kept in R2 meanwhile are being handed back to the queue \\(${DRAIN_PER_SWEEP} so far\\)$`)),
    ]);
    expect(alerts.requests).toHaveLength(1);

    expect((await sweep(up.env)).storage).toEqual({ d1_writable: true, handed_back: 1 });
    expect(up.handedBack).toHaveLength(DRAIN_PER_SWEEP + 1);
    expect((await healthz(up.env)).degraded).toEqual([]);
    expect(alerts.requests.map((r) => JSON.parse(r.body).type)).toEqual(["relay.storage.unavailable", "relay.storage.recovered"]);
    expect(JSON.parse(alerts.requests[1]!.body).data).toMatchObject({ handed_back: DRAIN_PER_SWEEP + 1 });
  });

  it("hands a spool of large callbacks back in sendBatch calls within the Queue's 256 KB", async () => {
    const tenant = await createTenant();
    const big = "สวัสดีค่ะ ".repeat(1200);
    const messages = await Promise.all(Array.from({ length: 40 }, async () => ({ ...(await smallCallback(tenant.id)), body: JSON.stringify({ callid: uniqueId("big"), note: big }) })));
    expect((await consume("airudder-relay-callbacks", messages, outageEnv().env)).explicitAcks).toHaveLength(40);

    const up = outageEnv({}, false);
    await sweep(up.env);
    expect(up.handedBack).toHaveLength(40);
    expect(up.batchBytes.length).toBeGreaterThan(1);
    for (const bytes of up.batchBytes) expect(bytes).toBeLessThan(256 * 1024);
  });

  it("keeps dead letters in R2, and the sweep records them in D1 once it takes writes", async () => {
    const down = outageEnv();
    const result = await consume("airudder-relay-dead-letters", [{ t: "delivery", delivery_id: "lost while D1 was full" }], down.env);
    expect(result.explicitAcks).toHaveLength(1);
    expect((await env.STORE.list({ prefix: "dead-letters/" })).objects).toHaveLength(1);

    await sweep(outageEnv({}, false).env);
    const row = await everyDatabase.prepare("SELECT queue, body FROM dead_letters WHERE id = ?1").bind(result.explicitAcks[0]).first<{ queue: string; body: string }>();
    expect(row).toEqual({ queue: "airudder-relay-dead-letters", body: JSON.stringify({ t: "delivery", delivery_id: "lost while D1 was full" }) });
    expect((await env.STORE.list({ prefix: "dead-letters/" })).objects).toHaveLength(0);
  });

  it("still tells the operator of a dead letter handed back as often as it will be, and once recorded it stays", async () => {
    const tenant = await createTenant();
    const message = { ...(await smallCallback(tenant.id)), redriven: MAX_REDRIVES };
    const lastTry = { ...(await smallCallback(tenant.id)), redriven: MAX_REDRIVES - 1 };
    const errors: string[] = [];
    const spy = vi.spyOn(console, "error").mockImplementation((line: unknown) => void errors.push(String(line)));
    const down = outageEnv();
    const result = await consume("airudder-relay-dead-letters", [message, lastTry], down.env).finally(() => spy.mockRestore());
    expect(result.explicitAcks).toHaveLength(2);
    expect((await env.STORE.list({ prefix: "dead-letters/" })).objects).toHaveLength(1);
    const logged = errors.map((e) => JSON.parse(e) as { msg: string; dead_letters?: string[]; events?: string[] });
    expect(logged.find((e) => /kept in R2/.test(e.msg))).toBeDefined();
    expect(logged.find((e) => /kept as dead letters/.test(e.msg))).toMatchObject({ dead_letters: [result.explicitAcks[0]], events: [message.event_id] });

    const up = outageEnv({}, false);
    await sweep(up.env);
    const row = await everyDatabase.prepare("SELECT body FROM dead_letters WHERE id = ?1").bind(result.explicitAcks[0]).first<{ body: string }>();
    expect(JSON.parse(row!.body)).toMatchObject({ event_id: message.event_id, redriven: MAX_REDRIVES });
    await sweep(up.env);
    // The one with a hand-back left goes back: the sweep got as far as handing back.
    expect(up.handedBack.filter((m) => m.event_id === lastTry.event_id)).toHaveLength(1);
    expect(up.handedBack.filter((m) => m.event_id === message.event_id)).toHaveLength(0);
  });

  it("answers /healthz 200 with nothing degraded when all is well", async () => {
    const res = await worker.fetch(new Request("https://relay.test/healthz"), env, createExecutionContext());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, degraded: [] });
  });
});

describe("a database nearly full", () => {
  it("sends relay.storage.nearly_full past 80 % of 10 GB, at most once a day", async () => {
    const alerts = crm();
    const e = { ...env, ALERT_WEBHOOK_URL: alerts.url("/alerts") } as Env;
    const now = Date.now();
    await checkSize(e, "EVENTS_0", D1_MAX_BYTES * 0.79, now);
    expect(alerts.requests).toHaveLength(0);
    await checkSize(e, "EVENTS_0", D1_MAX_BYTES * 0.81, now);
    await checkSize(e, "EVENTS_0", D1_MAX_BYTES * 0.82, now + 3600_000);
    expect(alerts.requests.map((r) => JSON.parse(r.body).type)).toEqual(["relay.storage.nearly_full"]);
    await checkSize(e, "EVENTS_0", D1_MAX_BYTES * 0.83, now + 86_400_000 + 1);
    expect(alerts.requests).toHaveLength(2);
  });
});
