import { createExecutionContext, createMessageBatch, getQueueResult, type MessageBatchMessage } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_UNRECORDED_CLAIMS } from "../src/delivery/lifecycle";
import { deliveryIdFor } from "../src/delivery/routing";
import type { Env } from "../src/env";
import worker from "../src/index";
import { sweep } from "../src/maintenance/sweep";
import { findEvent } from "../src/query/events";
import type { CallbackMessage } from "../src/queue-messages";
import { admin, attemptsOfDelivery, callbackMessage, cleanedUpAfterEach, createTenant, deliver, deliveryById, deliveryOf, drivenEnv, refusingBatches, uniqueId, waitUntil } from "./helpers";

/*
 * A first attempt made by the invocation that stores its event, with no
 * delivery row: the event row claims it and records it (src/delivery/lifecycle.ts,
 * "Inline first attempts"). These tests look at what that leaves in D1, at
 * every reader's view of it, and at each way the record can go missing.
 */

const { crm, destination } = cleanedUpAfterEach();

/** One callbacks batch, as the queue hands it over (`attempts` > 1: a redelivery). */
async function runCallbacks(e: Env, messages: { id: string; body: CallbackMessage; attempts?: number }[]) {
  const batch = createMessageBatch<CallbackMessage>(
    "airudder-relay-callbacks",
    messages.map((m): MessageBatchMessage<CallbackMessage> => ({ id: m.id, timestamp: new Date(), attempts: m.attempts ?? 1, body: m.body })),
  );
  // The test harness answers which messages were retried, not after how long: that is read off the calls.
  const delays = new Map<string, number | undefined>();
  for (const m of batch.messages) {
    const retry = m.retry.bind(m);
    m.retry = (options?: QueueRetryOptions) => {
      delays.set(m.id, options?.delaySeconds);
      retry(options);
    };
  }
  const ctx = createExecutionContext();
  await worker.queue(batch, e, ctx);
  return { ...(await getQueueResult(batch, ctx)), delays };
}

const callBody = (callid: string, status: string) => JSON.stringify({ callid, transfer_status: status, asr_result: ["Robot: สวัสดีค่ะ", `Human: ${status}`] });

async function shardOf(eventId: string) {
  return (await findEvent(env, eventId))!.shard.db;
}

const rowsOf = async (db: D1Database, eventId: string) => {
  const prefix = `dlv_${eventId.slice(4)}_`;
  const count = (sql: string) => db.prepare(sql).bind(prefix + "%").first<number>("n");
  return {
    deliveries: await count("SELECT COUNT(*) AS n FROM deliveries WHERE id LIKE ?1"),
    attempts: await count("SELECT COUNT(*) AS n FROM attempts WHERE delivery_id LIKE ?1"),
  };
};

/** A tenant, one CRM destination, and one callback stored and delivered inline. */
async function deliveredInline(handler?: Parameters<typeof crm>[0]) {
  const far = crm(handler);
  const tenant = await createTenant();
  const dest = await destination(tenant, { url: far.url() });
  const message = await callbackMessage(tenant.id, callBody(uniqueId("call"), "2"));
  const first = await runCallbacks(env, [{ id: "first", body: message }]);
  expect(first.explicitAcks).toEqual(["first"]);
  expect(far.requests).toHaveLength(1);
  return { far, tenant, dest, message, deliveryId: deliveryIdFor(message.event_id, dest.id), db: await shardOf(message.event_id) };
}

/** Puts the event's fan-out back to "attempted, never recorded", held by another invocation until `until`. */
const unrecorded = (db: D1Database, eventId: string, until: number, claims = 1) =>
  db
    .prepare("UPDATE events SET first_attempts = NULL, batch_nonce = 'an-invocation-that-died', fanout_until = ?2, fanout_claims = ?3 WHERE id = ?1")
    .bind(eventId, until, claims)
    .run();

describe("a first attempt delivered inline", () => {
  it("leaves no delivery or attempt row, and every reader still shows the delivery with its attempt", async () => {
    const { dest, message, deliveryId, db, tenant } = await deliveredInline();
    expect(await rowsOf(db, message.event_id)).toEqual({ deliveries: 0, attempts: 0 });

    const shown = await admin("GET", `/v1/admin/deliveries/${deliveryId}`);
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ id: deliveryId, event_id: message.event_id, destination_id: dest.id, status: "delivered", attempt_count: 1, last_status_code: 200 });
    expect(shown.body.attempts).toMatchObject([{ status_code: 200, error: null }]);

    const listed = await admin("GET", `/v1/admin/deliveries?destination=${dest.id}&status=delivered`);
    expect(listed.body.data.map((d: { id: string }) => d.id)).toEqual([deliveryId]);
    expect((await admin("GET", `/v1/admin/deliveries?destination=${dest.id}&status=failed`)).body.data).toEqual([]);
    expect((await admin("GET", `/v1/admin/deliveries?tenant=${tenant.id}`)).body.data.map((d: { id: string }) => d.id)).toEqual([deliveryId]);

    const event = await admin("GET", `/v1/admin/events/${message.event_id}`);
    expect(event.body.deliveries).toMatchObject([{ id: deliveryId, status: "delivered", attempts: [{ status_code: 200 }] }]);
  });

  it("is recorded under its destination's position in the fan-out, and a row recorded by destination id (before) reads the same", async () => {
    const fars = [crm(), crm(), crm()];
    const tenant = await createTenant();
    const dests: Awaited<ReturnType<typeof destination>>[] = [];
    for (const far of fars) dests.push(await destination(tenant, { url: far.url() }));
    const message = await callbackMessage(tenant.id, callBody(uniqueId("call"), "2"));
    const started = Date.now();
    expect((await runCallbacks(env, [{ id: "three", body: message }])).explicitAcks).toEqual(["three"]);
    for (const far of fars) expect(far.requests).toHaveLength(1);

    const db = await shardOf(message.event_id);
    const row = (await db.prepare("SELECT fanout, first_attempts FROM events WHERE id = ?1").bind(message.event_id).first<{ fanout: string; first_attempts: string }>())!;
    const fanout = JSON.parse(row.fanout) as string[];
    expect([...fanout].sort()).toEqual(dests.map((d) => d.id).sort());
    const recorded = JSON.parse(row.first_attempts) as Record<string, [number, number, number]>;
    expect(Object.keys(recorded).sort()).toEqual(["0", "1", "2"]);
    for (const [, [at, code, duration]] of Object.entries(recorded)) {
      expect(at).toBeGreaterThanOrEqual(started);
      expect(code).toBe(200);
      expect(duration).toBeGreaterThanOrEqual(0);
    }
    const shown = async () =>
      Promise.all(dests.map(async (d) => (await admin("GET", `/v1/admin/deliveries/${deliveryIdFor(message.event_id, d.id)}`)).body));
    const byPosition = await shown();

    // The same outcomes as a row written before positions: keyed by destination id.
    const byId = Object.fromEntries(fanout.map((id, i) => [id, recorded[String(i)]]));
    await db.prepare("UPDATE events SET first_attempts = ?2 WHERE id = ?1").bind(message.event_id, JSON.stringify(byId)).run();
    const before = await shown();
    expect(before).toEqual(byPosition);
    for (const [i, d] of before.entries()) {
      expect(d).toMatchObject({ destination_id: dests[i]!.id, status: "delivered", attempt_count: 1, last_status_code: 200 });
      expect(d.attempts).toMatchObject([{ at: new Date(recorded[String(fanout.indexOf(dests[i]!.id))]![0]).toISOString(), status_code: 200 }]);
    }
    // Nothing is owed: the callback coming back sends nothing again.
    await db.prepare("UPDATE events SET fanout_until = ?2 WHERE id = ?1").bind(message.event_id, Date.now() - 1).run();
    expect((await runCallbacks(env, [{ id: "again", body: message, attempts: 2 }])).explicitAcks).toEqual(["again"]);
    for (const far of fars) expect(far.requests).toHaveLength(1);
  });

  it("pages the tenant's stored and derived deliveries together, newest first, with no gap or repeat", async () => {
    const far = crm();
    const failing = crm(() => new Response("no", { status: 400 }));
    const tenant = await createTenant();
    const ok = await destination(tenant, { url: far.url() });
    const bad = await destination(tenant, { url: failing.url() });
    const now = Date.now();
    const messages = await Promise.all(Array.from({ length: 5 }, (_, i) => callbackMessage(tenant.id, callBody(uniqueId("call"), String(i)), { receivedAt: now + i })));
    await runCallbacks(env, messages.map((body, i) => ({ id: `m${i}`, body })));
    const expected = messages
      .flatMap((m) => [deliveryIdFor(m.event_id, ok.id), deliveryIdFor(m.event_id, bad.id)])
      .sort()
      .reverse();

    const seen: { id: string; status: string }[] = [];
    for (let cursor: string | null = null, pages = 0; pages < 10; pages++) {
      const page: { status: number; body: { data: { id: string; status: string }[]; next_cursor: string | null } } = await admin(
        "GET",
        `/v1/admin/deliveries?tenant=${tenant.id}&limit=3${cursor ? `&cursor=${cursor}` : ""}`,
      );
      seen.push(...page.body.data);
      cursor = page.body.next_cursor;
      if (!cursor) break;
    }
    expect(seen.map((d) => d.id).sort().reverse()).toEqual(expected);
    expect(new Set(seen.map((d) => d.id)).size).toBe(10);
    expect(seen.filter((d) => d.status === "delivered")).toHaveLength(5);
    expect(seen.filter((d) => d.status === "failed")).toHaveLength(5);
  });

  it("replayed, gets a row of its own whose attempt log keeps the inline first attempt", async () => {
    const { far, message, deliveryId } = await deliveredInline();
    const driven = drivenEnv();
    const replay = await admin("POST", `/v1/admin/events/${message.event_id}/replay`, {});
    expect(replay.status).toBe(202);
    await deliver(driven.env, [deliveryId]);
    expect(far.requests).toHaveLength(2);
    expect(await deliveryById(deliveryId)).toMatchObject({ status: "delivered", attempt_count: 2, lease_owner: null });
    const attempts = await attemptsOfDelivery(deliveryId);
    expect(attempts.map((a) => a.status_code)).toEqual([200, 200]);
  });
});

describe("an inline first attempt whose outcome is not recorded", () => {
  it("is taken on when its callback comes back after the lease, sent again and recorded once", async () => {
    const { far, message, deliveryId, db } = await deliveredInline();
    await unrecorded(db, message.event_id, Date.now() - 1);
    expect(await admin("GET", `/v1/admin/deliveries/${deliveryId}`)).toMatchObject({ status: 200, body: { status: "pending", attempt_count: 0 } });

    const again = await runCallbacks(env, [{ id: "again", body: message, attempts: 2 }]);
    expect(again.explicitAcks).toEqual(["again"]);
    expect(far.requests).toHaveLength(2);
    expect(far.requests[1]!.headers["webhook-id"]).toBe(far.requests[0]!.headers["webhook-id"]);
    const row = await db.prepare("SELECT fanout_claims, first_attempts FROM events WHERE id = ?1").bind(message.event_id).first<{ fanout_claims: number; first_attempts: string }>();
    expect(row!.fanout_claims).toBe(2);
    expect(Object.keys(JSON.parse(row!.first_attempts))).toHaveLength(1);
    expect(await rowsOf(db, message.event_id)).toEqual({ deliveries: 0, attempts: 0 });

    const late = await runCallbacks(env, [{ id: "late", body: message, attempts: 3 }]);
    expect(late.explicitAcks).toEqual(["late"]);
    expect(far.requests).toHaveLength(2);
  });

  it("is taken on when its callback comes back from the dead letters, sent again and recorded once", async () => {
    const { far, message, deliveryId, db } = await deliveredInline();
    await unrecorded(db, message.event_id, Date.now() - 1);
    // The callback exhausted its retries (D1 refusing the record for half an hour) and was dead-lettered.
    const letters = createMessageBatch("airudder-relay-dead-letters", [{ id: uniqueId("dl"), timestamp: new Date(), attempts: 11, body: message }]);
    const ctx = createExecutionContext();
    await worker.queue(letters, env, ctx);
    expect((await getQueueResult(letters, ctx)).explicitAcks).toHaveLength(1);

    expect((await sweep(env)).redriven).toBeGreaterThanOrEqual(1);
    await waitUntil(async () => far.requests.length === 2);
    expect(far.requests[1]!.headers["webhook-id"]).toBe(far.requests[0]!.headers["webhook-id"]);
    const recorded = await waitUntil(async () => {
      const row = await db.prepare("SELECT fanout_claims, first_attempts FROM events WHERE id = ?1").bind(message.event_id).first<{ fanout_claims: number; first_attempts: string | null }>();
      return row?.first_attempts ? row : undefined;
    });
    expect(recorded.fanout_claims).toBe(2);
    expect(await admin("GET", `/v1/admin/deliveries/${deliveryId}`)).toMatchObject({ status: 200, body: { status: "delivered", attempt_count: 1 } });
  });

  it("held by an invocation still within its lease, sends nothing and brings the callback back when the lease ends", async () => {
    const { far, message, db } = await deliveredInline();
    const until = Date.now() + 20_000;
    await unrecorded(db, message.event_id, until);

    const result = await runCallbacks(env, [{ id: "meanwhile", body: message, attempts: 2 }]);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages).toHaveLength(1);
    expect(result.retryMessages[0]!.msgId).toBe("meanwhile");
    expect(result.delays.get("meanwhile")).toBeGreaterThanOrEqual(18);
    expect(result.delays.get("meanwhile")).toBeLessThanOrEqual(21);
    expect(far.requests).toHaveLength(1);
  });

  it(`claimed ${MAX_UNRECORDED_CLAIMS} times, is not sent again: its delivery is dead and says why`, async () => {
    const { far, message, deliveryId, db } = await deliveredInline();
    await unrecorded(db, message.event_id, Date.now() - 1, MAX_UNRECORDED_CLAIMS);

    const result = await runCallbacks(env, [{ id: "once-more", body: message, attempts: 4 }]);
    expect(result.explicitAcks).toEqual(["once-more"]);
    expect(far.requests).toHaveLength(1);
    expect(await deliveryById(deliveryId)).toMatchObject({ status: "dead" });
    const attempts = await attemptsOfDelivery(deliveryId);
    expect(attempts.at(-1)!.error).toMatch(/could not be recorded/);
  });

  it("when D1 refuses the record, brings its callback back after the lease instead of acking it", async () => {
    const far = crm();
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: far.url() });
    const message = await callbackMessage(tenant.id, callBody(uniqueId("call"), "2"));
    const refusing = refusingRecords(env);

    const result = await runCallbacks(refusing, [{ id: "unrecorded", body: message }]);
    expect(far.requests).toHaveLength(1);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(["unrecorded"]);
    expect(result.delays.get("unrecorded")).toBeGreaterThanOrEqual(10);

    // Once the lease is over, the redelivered callback takes the fan-out on and records it.
    const db = await shardOf(message.event_id);
    await db.prepare("UPDATE events SET fanout_until = ?2 WHERE id = ?1").bind(message.event_id, Date.now() - 1).run();
    const again = await runCallbacks(env, [{ id: "unrecorded", body: message, attempts: 2 }]);
    expect(again.explicitAcks).toEqual(["unrecorded"]);
    expect(far.requests).toHaveLength(2);
    expect(await deliveryOf(message.event_id, dest.id)).toMatchObject({ status: "delivered", attempt_count: 1 });
  }, 20_000);
});

describe("call order with inline first attempts", () => {
  it("a later event of the call waits while the earlier one's inline attempt is in flight, and goes once it is recorded", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const far = crm(async () => {
      await gate;
      return new Response("ok");
    });
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: far.url() });
    const callid = uniqueId("call");
    const now = Date.now();
    const earlier = await callbackMessage(tenant.id, callBody(callid, "1"), { receivedAt: now });
    const later = await callbackMessage(tenant.id, callBody(callid, "2"), { receivedAt: now + 1 });
    const driven = drivenEnv();

    const first = runCallbacks(driven.env, [{ id: "earlier", body: earlier }]);
    await waitUntil(async () => far.requests.length === 1);
    const second = await runCallbacks(driven.env, [{ id: "later", body: later }]);
    expect(second.explicitAcks).toEqual(["later"]);
    expect(far.requests).toHaveLength(1);
    expect(await deliveryOf(later.event_id, dest.id)).toMatchObject({ status: "pending", attempt_count: 0, lease_owner: null });

    release();
    expect((await first).explicitAcks).toEqual(["earlier"]);
    const laterId = deliveryIdFor(later.event_id, dest.id);
    expect(driven.sent.map((s) => (s.body as { delivery_id?: string }).delivery_id)).toContain(laterId);
    await deliver(driven.env, [laterId]);
    expect(far.requests.map((r) => JSON.parse(r.body).id)).toEqual([earlier.event_id, later.event_id]);
    expect(await deliveryOf(later.event_id, dest.id)).toMatchObject({ status: "delivered", attempt_count: 1 });
  });
});

/**
 * The env with every event shard refusing the batch that records inline
 * outcomes (the one that writes first_attempts), as D1 does when it is
 * unavailable; everything else goes through.
 */
const refusingRecords = (e: typeof env): Env =>
  ({ ...e, EVENTS_0: refusingBatches(e.EVENTS_0, "SET first_attempts"), EVENTS_1: refusingBatches(e.EVENTS_1, "SET first_attempts") }) as Env;
