import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult, type MessageBatchMessage } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import type { Env } from "../src/env";
import { deliveryIdFor } from "../src/delivery/routing";
import worker from "../src/index";
import { PURGE_BATCH } from "../src/maintenance/sweep";
import { MAX_REDRIVES, type DeliveryMessage } from "../src/queue-messages";
import {
  admin,
  createTenant,
  postCallback,
  uniqueId,
  waitUntil,
  cleanedUpAfterEach,
  freshCallback,
  type Tenant,
  deliveryOf,
} from "./helpers";
import { everyDatabase } from "./every-database";


const { crm, destination } = cleanedUpAfterEach();
const callback = freshCallback;

/** The Worker's env with a deliveries queue that records each message and then really sends it. */
function recordingEnv(vars: Partial<Record<keyof Env, string>> = {}) {
  const sent: MessageSendRequest<DeliveryMessage>[] = [];
  const queue = {
    send: async (body: DeliveryMessage, options?: QueueSendOptions) => {
      sent.push({ body, ...options });
      await env.DELIVERIES_QUEUE.send(body, options);
    },
    sendBatch: async (messages: Iterable<MessageSendRequest<DeliveryMessage>>) => {
      const list = [...messages];
      sent.push(...list);
      await env.DELIVERIES_QUEUE.sendBatch(list);
    },
  };
  return { env: { ...env, ...vars, DELIVERIES_QUEUE: queue as unknown as Queue<DeliveryMessage> } as Env, sent };
}

const runSweep = (e: Env = env) => worker.scheduled(createScheduledController({ cron: "* * * * *" }), e);

/**
 * A stored event with a held delivery to a paused destination, which the test
 * then turns into whatever lost or claimed state it needs, in D1 directly:
 * none of these states has a queue message, which is the point.
 */
async function storedDelivery(tenant: Tenant, destinationId: string) {
  const res = await postCallback(tenant.id, "inbound-transfer", callback(), tenant.token);
  expect(res.status).toBe(200);
  const { event_id: eventId } = (await res.json()) as { event_id: string };
  const held = await waitUntil(async () => (await deliveryOf(eventId, destinationId)) ?? undefined);
  expect(held.status).toBe("held");
  return { eventId, deliveryId: held.id };
}

const enableInD1 = (destinationId: string) =>
  everyDatabase.prepare("UPDATE destinations SET enabled = 1, disabled_reason = NULL WHERE id = ?1").bind(destinationId).run();

describe("the sweep", () => {
  it("re-enqueues a due delivery whose queue message was lost, which is then delivered", async () => {
    const far = crm();
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: far.url(), enabled: false });
    const { eventId, deliveryId } = await storedDelivery(tenant, dest.id);
    await enableInD1(dest.id);
    await everyDatabase.prepare(
      "UPDATE deliveries SET status = 'failed', attempt_count = 1, schedule_step = 1, next_attempt_at = ?2, lease_owner = NULL, lease_until = NULL WHERE id = ?1",
    )
      .bind(deliveryId, Date.now() - 5 * 60_000)
      .run();

    await new Promise((r) => setTimeout(r, 1500));
    expect(far.requests).toHaveLength(0);

    const recording = recordingEnv();
    await runSweep(recording.env);
    expect(recording.sent.filter((m) => m.body.delivery_id === deliveryId)).toHaveLength(1);

    await waitUntil(async () => (await deliveryOf(eventId, dest.id))?.status === "delivered");
    expect(far.requests).toHaveLength(1);
    expect(far.requests[0]!.headers["webhook-id"]).toBe(eventId);
    expect(await deliveryOf(eventId, dest.id)).toMatchObject({ attempt_count: 2, lease_owner: null });
  });

  it("leaves alone a delivery whose claim has not expired, and one that is not yet overdue", async () => {
    const far = crm();
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: far.url(), enabled: false });
    const claimed = await storedDelivery(tenant, dest.id);
    const justDue = await storedDelivery(tenant, dest.id);
    await enableInD1(dest.id);
    const now = Date.now();
    await everyDatabase.batch([
      // Being attempted right now by another invocation, whose lease runs for another minute.
      everyDatabase.prepare(
        "UPDATE deliveries SET status = 'failed', next_attempt_at = ?2, lease_owner = 'another-invocation', lease_until = ?3 WHERE id = ?1",
      ).bind(claimed.deliveryId, now - 5 * 60_000, now + 60_000),
      // Due a moment ago: its own queue message is still on the way.
      everyDatabase.prepare("UPDATE deliveries SET status = 'failed', next_attempt_at = ?2 WHERE id = ?1").bind(justDue.deliveryId, now - 1_000),
    ]);

    const recording = recordingEnv();
    await runSweep(recording.env);
    const ids = recording.sent.map((m) => m.body.delivery_id);
    expect(ids).not.toContain(claimed.deliveryId);
    expect(ids).not.toContain(justDue.deliveryId);
    expect(far.requests).toHaveLength(0);

    // Once the lease has run out, the delivery is the sweep's to take.
    await everyDatabase.prepare("UPDATE deliveries SET lease_until = ?2 WHERE id = ?1").bind(claimed.deliveryId, Date.now() - 1).run();
    const after = recordingEnv();
    await runSweep(after.env);
    expect(after.sent.map((m) => m.body.delivery_id)).toContain(claimed.deliveryId);
    await waitUntil(async () => (await deliveryOf(claimed.eventId, dest.id))?.status === "delivered");
  });

  it("stores and delivers a large callback whose queue message was lost, once it has waited 60 s in the inbox", async () => {
    const far = crm();
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: far.url() });
    const body = callback();
    const eventId = "evt_" + crypto.randomUUID().replace(/-/g, "");
    const inbox = (receivedAt: number) =>
      everyDatabase.prepare("INSERT INTO inbox (event_id, tenant_id, kind, type, received_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .bind(eventId, tenant.id, "inbound-transfer", "airudder.inbound.transfer", receivedAt, body)
        .run();
    const inboxRow = () => everyDatabase.prepare("SELECT event_id FROM inbox WHERE event_id = ?1").bind(eventId).first();

    // Too fresh: its queue message may still be on the way.
    await inbox(Date.now() - 10_000);
    await runSweep();
    await new Promise((r) => setTimeout(r, 2000));
    expect(await inboxRow()).not.toBeNull();
    expect(far.requests).toHaveLength(0);

    await everyDatabase.prepare("UPDATE inbox SET received_at = ?2 WHERE event_id = ?1").bind(eventId, Date.now() - 90_000).run();
    await runSweep();
    const got = await waitUntil(async () => far.requests[0]);
    expect(got.headers["webhook-id"]).toBe(eventId);
    expect((new Webhook(dest.secret).verify(got.body, got.headers) as { data: unknown }).data).toEqual(JSON.parse(body));
    await waitUntil(async () => (await deliveryOf(eventId, dest.id))?.status === "delivered");
    expect(await inboxRow()).toBeNull();
    const stored = await admin("GET", `/v1/admin/events/${eventId}`);
    expect(stored.status).toBe(200);
    // The sweep's message carries no columns: the consumer read them from the body itself.
    const sent = JSON.parse(body) as { callid: string; caller_number: string };
    expect(stored.body).toMatchObject({
      id: eventId,
      tenant: tenant.id,
      type: "airudder.inbound.transfer",
      payload_state: "kept",
      callid: sent.callid,
      phone_masked: "***" + sent.caller_number.replace(/\D/g, "").slice(-4),
    });
  });

  it("with RETENTION_DAYS=1, purges older payloads with their attempts, and older quarantine, keeping newer ones", async () => {
    const tenant = uniqueId("t-retention");
    const now = Date.now();
    const old = now - 2 * 86_400_000;
    const recent = now - 3600_000;
    const hex = () => crypto.randomUUID().replace(/-/g, "");
    const ids = { oldEvent: `evt_${hex()}`, newEvent: `evt_${hex()}`, oldQ: uniqueId("qua_old"), newQ: uniqueId("qua_new") };
    const deliveries = { old: deliveryIdFor(ids.oldEvent, "dst_retention"), recent: deliveryIdFor(ids.newEvent, "dst_retention") };
    const event = (id: string, at: number) =>
      everyDatabase.prepare(
        "INSERT INTO events (id, tenant_id, kind, type, received_at, payload, callid, batch_nonce) VALUES (?1, ?2, 'generic', 'airudder.generic', ?3, ?4, ?5, 'test')",
      ).bind(id, tenant, at, JSON.stringify({ callid: id }), id);
    const delivery = (id: string, eventId: string, at: number) =>
      everyDatabase.prepare(
        "INSERT INTO deliveries (id, event_id, destination_id, tenant_id, status, attempt_count, created_at, updated_at) VALUES (?1, ?2, 'dst_retention', ?3, 'delivered', 1, ?4, ?4)",
      ).bind(id, eventId, tenant, at);
    const attempt = (deliveryId: string, at: number) =>
      everyDatabase.prepare("INSERT INTO attempts (delivery_id, at, status_code, duration_ms) VALUES (?1, ?2, 200, 5)").bind(deliveryId, at);
    const quarantine = (id: string, at: number) =>
      everyDatabase.prepare(
        "INSERT INTO quarantine (id, tenant_id, kind, received_at, last_received_at, body, issues) VALUES (?1, ?2, 'pds', ?3, ?3, '{}', '[]')",
      ).bind(id, tenant, at);
    await everyDatabase.batch([
      event(ids.oldEvent, old),
      event(ids.newEvent, recent),
      delivery(deliveries.old, ids.oldEvent, old),
      delivery(deliveries.recent, ids.newEvent, recent),
      attempt(deliveries.old, old),
      attempt(deliveries.recent, recent),
      quarantine(ids.oldQ, old),
      quarantine(ids.newQ, recent),
    ]);

    // The default retention (30 days) keeps all of it.
    await runSweep();
    const events = async () =>
      (await everyDatabase.prepare("SELECT id, payload, payload_state, callid FROM events WHERE tenant_id = ?1 ORDER BY received_at").bind(tenant).all()).results;
    const attempts = async () =>
      (
        await everyDatabase.prepare("SELECT delivery_id FROM attempts WHERE delivery_id IN (?1, ?2) ORDER BY at")
          .bind(deliveries.old, deliveries.recent)
          .all<{ delivery_id: string }>()
      ).results.map((a) => a.delivery_id);
    const quarantined = async () =>
      (await everyDatabase.prepare("SELECT id FROM quarantine WHERE tenant_id = ?1 ORDER BY received_at").bind(tenant).all<{ id: string }>()).results.map((q) => q.id);
    expect((await events()).map((e) => e.payload_state)).toEqual(["kept", "kept"]);
    expect(await attempts()).toEqual([deliveries.old, deliveries.recent]);
    expect(await quarantined()).toEqual([ids.oldQ, ids.newQ]);

    await runSweep({ ...env, RETENTION_DAYS: "1" } as Env);
    expect(await events()).toEqual([
      // The metadata stays; only the payload goes.
      { id: ids.oldEvent, payload: null, payload_state: "purged", callid: ids.oldEvent },
      { id: ids.newEvent, payload: JSON.stringify({ callid: ids.newEvent }), payload_state: "kept", callid: ids.newEvent },
    ]);
    expect(await attempts()).toEqual([deliveries.recent]);
    expect(await quarantined()).toEqual([ids.newQ]);
    const kept = await everyDatabase.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE id IN (?1, ?2)").bind(deliveries.old, deliveries.recent).first<{ n: number }>();
    expect(kept!.n).toBe(2);
  });
});

describe("retention of dead letters", () => {
  it("with RETENTION_DAYS=1, deletes dead letters older than that, more than one purge batch of them, keeping newer ones", async () => {
    const now = Date.now();
    const prefix = uniqueId("dl-retention");
    const oldCount = PURGE_BATCH + 500;
    // A dead callback message carries its raw body, phone numbers included; one
    // still a dead letter days later was handed back as often as it will be.
    const body = JSON.stringify({ t: "callback", event_id: "evt_x", tenant_id: "t", body: '{"caller_number":"+66812345678"}', redriven: MAX_REDRIVES });
    await everyDatabase.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?2 - 1)
       INSERT INTO dead_letters (id, queue, body, received_at)
       SELECT ?1 || '-old-' || i, 'airudder-relay-dead-letters', ?3, ?4 - i FROM n`,
    )
      .bind(prefix, oldCount, body, now - 2 * 86_400_000)
      .run();
    await everyDatabase.prepare("INSERT INTO dead_letters (id, queue, body, received_at) VALUES (?1, 'airudder-relay-dead-letters', ?2, ?3)")
      .bind(`${prefix}-new`, body, now - 3600_000)
      .run();
    const left = async () =>
      (
        await everyDatabase.prepare("SELECT id FROM dead_letters WHERE id >= ?1 AND id < ?1 || '~' ORDER BY id").bind(prefix).all<{ id: string }>()
      ).results.map((r) => r.id);

    await runSweep();
    expect(await left()).toHaveLength(oldCount + 1);

    await runSweep({ ...env, RETENTION_DAYS: "1" } as Env);
    expect(await left()).toEqual([`${prefix}-new`]);
  });
});

describe("the dead-letter queue", () => {
  it("records every message in dead_letters and acks it", async () => {
    const messages: MessageBatchMessage[] = [
      { id: uniqueId("dl"), timestamp: new Date(), attempts: 11, body: { t: "delivery", delivery_id: uniqueId("dlv") } },
      { id: uniqueId("dl"), timestamp: new Date(), attempts: 11, body: { t: "callback", event_id: uniqueId("evt"), tenant_id: "x" } },
    ];
    const batch = createMessageBatch("airudder-relay-dead-letters", messages);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);

    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks.sort()).toEqual(messages.map((m) => m.id).sort());
    for (const m of messages) {
      const row = await everyDatabase.prepare("SELECT queue, body FROM dead_letters WHERE id = ?1").bind(m.id).first<{ queue: string; body: string }>();
      expect(row).not.toBeNull();
      expect(row!.queue).toBe("airudder-relay-dead-letters");
      expect(JSON.parse(row!.body)).toEqual(m.body);
    }

    // The same batch again (a redelivery) records nothing twice.
    const again = createMessageBatch("airudder-relay-dead-letters", messages);
    const ctx2 = createExecutionContext();
    await worker.queue(again, env, ctx2);
    expect((await getQueueResult(again, ctx2)).explicitAcks).toHaveLength(2);
    const count = await everyDatabase.prepare("SELECT COUNT(*) AS n FROM dead_letters WHERE id IN (?1, ?2)")
      .bind(messages[0]!.id, messages[1]!.id)
      .first<{ n: number }>();
    expect(count!.n).toBe(2);
  });
});
