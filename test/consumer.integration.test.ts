import type { Env } from "../src/env";
import { createExecutionContext, createMessageBatch, getQueueResult, type MessageBatchMessage } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { insertInbox } from "../src/db/inbox";
import worker from "../src/index";
import { callbackMessage, createDestination, createTenant, deliveriesOfEvent, fakeCrm, storedPayload, uniqueId, waitUntil } from "./helpers";
import { everyDatabase } from "./every-database";

const CALLBACKS = "airudder-relay-callbacks";

const crms: ReturnType<typeof fakeCrm>[] = [];
afterEach(() => crms.splice(0).forEach((c) => c.restore()));

/** A tenant with one healthy CRM destination. */
async function tenantWithCrm() {
  const crm = fakeCrm();
  crms.push(crm);
  const tenant = await createTenant();
  const destination = await createDestination(tenant.id, { url: crm.url() });
  return { tenant, crm, destination };
}

const transferBody = () => JSON.stringify({ callid: uniqueId("call"), transfer_status: "2", asr_result: ["Robot: สวัสดีค่ะ"] });

function queued<T>(id: string, body: T, attempts = 1): MessageBatchMessage<T> {
  return { id, timestamp: new Date(), attempts, body };
}

async function runBatch(messages: MessageBatchMessage[]) {
  const batch = createMessageBatch(CALLBACKS, messages);
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

const count = async (sql: string, ...params: unknown[]) =>
  (await everyDatabase.prepare(sql).bind(...params).first<{ n: number }>())!.n;

const eventsWithId = (id: string) => count("SELECT COUNT(*) AS n FROM events WHERE id = ?1", id);
const deliveriesOf = async (id: string) => (await deliveriesOfEvent(id)).length;

describe("the callbacks queue consumer", () => {
  it("stores a batch given twice once: one event, one delivery, one CRM request", async () => {
    const { tenant, crm, destination } = await tenantWithCrm();
    const body = transferBody();
    const message = await callbackMessage(tenant.id, body);

    for (let run = 0; run < 2; run++) {
      const result = await runBatch([queued("msg-1", message, run + 1)]);
      expect(result.explicitAcks).toEqual(["msg-1"]);
      expect(result.retryMessages).toEqual([]);
      expect(result.retryBatch.retry).toBe(false);
    }

    expect(await eventsWithId(message.event_id)).toBe(1);
    expect(await deliveriesOf(message.event_id)).toBe(1);
    expect(crm.requests).toHaveLength(1);
    expect(JSON.parse(crm.requests[0]!.body)).toMatchObject({ id: message.event_id, tenant: tenant.id, data: JSON.parse(body) });
    const [delivery] = await deliveriesOfEvent(message.event_id);
    expect(delivery!.delivery).toMatchObject({ destination_id: destination.id, status: "delivered", attempt_count: 1 });
    expect(delivery!.attempts).toMatchObject([{ status_code: 200 }]);
    const stored = await everyDatabase.prepare("SELECT tenant_id, type FROM events WHERE id = ?1").bind(message.event_id).first();
    expect(stored).toEqual({ tenant_id: tenant.id, type: "airudder.inbound.transfer" });
    expect(await storedPayload(message.event_id)).toBe(body);
  });

  it("keeps one row for two messages of the same event in one batch, and acks both", async () => {
    const { tenant, crm } = await tenantWithCrm();
    const message = await callbackMessage(tenant.id, transferBody());

    const result = await runBatch([queued("dup-a", message), queued("dup-b", { ...message, received_at: message.received_at + 5 })]);
    expect([...result.explicitAcks].sort()).toEqual(["dup-a", "dup-b"]);
    expect(result.retryMessages).toEqual([]);

    expect(await eventsWithId(message.event_id)).toBe(1);
    expect(await deliveriesOf(message.event_id)).toBe(1);
    expect(crm.requests).toHaveLength(1);
  });

  it("numbers a call's events in one batch 1, 2, 3… in the order received, a retried event keeping its number and leaving no gap", async () => {
    const { tenant, crm } = await tenantWithCrm();
    const callid = uniqueId("call");
    const other = uniqueId("call");
    const at = Date.now();
    const event = (id: string, step: string, ms: number) =>
      callbackMessage(tenant.id, JSON.stringify({ callid: id, transfer_status: "2", step }), { receivedAt: at + ms });
    const first = await event(callid, "first", 0);
    expect((await runBatch([queued("first", first)])).explicitAcks).toEqual(["first"]);

    const [third, second, elsewhere] = await Promise.all([event(callid, "third", 20), event(callid, "second", 10), event(other, "other", 15)]);
    const result = await runBatch([queued("third", third), queued("again", first, 2), queued("second", second), queued("other", elsewhere)]);
    expect(result.explicitAcks.sort()).toEqual(["again", "other", "second", "third"]);

    const seqOf = async (id: string) => (await everyDatabase.prepare("SELECT seq FROM events WHERE id = ?1").bind(id).first<{ seq: number }>())!.seq;
    expect(await Promise.all([first, second, third, elsewhere].map((m) => seqOf(m.event_id)))).toEqual([1, 2, 3, 1]);
    await waitUntil(async () => crm.requests.length >= 4);
    expect(crm.requests.map((r) => [r.headers["webhook-id"], JSON.parse(r.body).seq]).sort()).toEqual(
      [
        [first.event_id, 1],
        [second.event_id, 2],
        [third.event_id, 3],
        [elsewhere.event_id, 1],
      ].sort(),
    );
  });

  it("stores a large body from the inbox once, empties the inbox, and acks a late duplicate", async () => {
    const { tenant, crm } = await tenantWithCrm();
    const body = transferBody();
    const message = await callbackMessage(tenant.id, body, { inline: false });
    await insertInbox(everyDatabase, { ...message, body });

    for (const id of ["inbox-1", "inbox-2"]) {
      const result = await runBatch([queued(id, message)]);
      expect(result.explicitAcks).toEqual([id]);
      expect(result.retryMessages).toEqual([]);
    }

    expect(await storedPayload(message.event_id)).toBe(body);
    expect(await count("SELECT COUNT(*) AS n FROM inbox WHERE event_id = ?1", message.event_id)).toBe(0);
    expect(await deliveriesOf(message.event_id)).toBe(1);
    expect(crm.requests).toHaveLength(1);
  });

  it("records a malformed message once as a dead letter instead of retrying it, and still stores the good ones", async () => {
    const { tenant, crm } = await tenantWithCrm();
    const good = await callbackMessage(tenant.id, transferBody());
    const { received_at: _, ...missingField } = good;

    const result = await runBatch([
      queued("junk-string", "not a callback"),
      queued("junk-shape", missingField),
      queued("junk-kind", { ...good, t: "delivery" }),
      queued("good", good),
    ]);
    expect(result.explicitAcks.sort()).toEqual(["good", "junk-kind", "junk-shape", "junk-string"]);
    expect(result.retryMessages).toEqual([]);
    expect(result.retryBatch.retry).toBe(false);
    const dead = await everyDatabase.prepare("SELECT id, queue, body FROM dead_letters WHERE id IN ('junk-kind', 'junk-shape', 'junk-string') ORDER BY id").all<{ id: string; queue: string; body: string }>();
    expect(dead.results.map((d) => [d.id, d.queue])).toEqual([
      ["junk-kind", "airudder-relay-callbacks"],
      ["junk-shape", "airudder-relay-callbacks"],
      ["junk-string", "airudder-relay-callbacks"],
    ]);
    expect(JSON.parse(dead.results[2]!.body)).toBe("not a callback");
    expect(await eventsWithId(good.event_id)).toBe(1);
    expect(crm.requests).toHaveLength(1);
  });

  it("redelivered, does not make a first attempt that its delivery's next_attempt_at (a Retry-After, a rate-limit slot) puts later", async () => {
    const { tenant, crm, destination } = await tenantWithCrm();
    const message = await callbackMessage(tenant.id, transferBody());
    await everyDatabase.prepare("UPDATE destinations SET enabled = 0 WHERE id = ?1").bind(destination.id).run();
    await runBatch([queued("first", message)]);
    const later = Date.now() + 600_000;
    // As a first attempt deferred to later leaves it: pending, never attempted, unleased.
    await everyDatabase.batch([
      everyDatabase.prepare("UPDATE destinations SET enabled = 1 WHERE id = ?1").bind(destination.id),
      everyDatabase.prepare("UPDATE deliveries SET status = 'pending', next_attempt_at = ?2 WHERE event_id = ?1").bind(message.event_id, later),
    ]);

    const again = await runBatch([queued("again", message)]);
    expect(again.explicitAcks).toEqual(["again"]);
    expect(crm.requests).toHaveLength(0);
    const row = await everyDatabase.prepare("SELECT status, attempt_count, next_attempt_at, lease_owner FROM deliveries WHERE event_id = ?1").bind(message.event_id).first();
    expect(row).toEqual({ status: "pending", attempt_count: 0, next_attempt_at: later, lease_owner: null });
  });

  it("isolates a poison message: the rest of its batch is stored and acked, only it is retried", async () => {
    const { tenant, crm } = await tenantWithCrm();
    const good = [await callbackMessage(tenant.id, transferBody()), await callbackMessage(tenant.id, transferBody())];
    // Well-formed as a message, but its body cannot be stored: the whole batch throws.
    const poison = { ...(await callbackMessage(tenant.id, transferBody())), body: "{ not json" };

    const result = await runBatch([queued("good-0", good[0]), queued("poison", poison, 3), queued("good-1", good[1])]);
    expect(result.explicitAcks.sort()).toEqual(["good-0", "good-1"]);
    expect(result.retryMessages.map((r) => r.msgId)).toEqual(["poison"]);
    for (const g of good) expect(await eventsWithId(g.event_id)).toBe(1);
    expect(await eventsWithId(poison.event_id)).toBe(0);
    await waitUntil(async () => crm.requests.length === 2);
  });

  it("retries every message with a delay, and acks none, when D1 refuses the write and R2 refuses to keep the batch too", async () => {
    const { tenant, crm } = await tenantWithCrm();
    const messages = await Promise.all([1, 2, 3].map(() => callbackMessage(tenant.id, transferBody())));
    // Reads still work; the one batch() that stores the events fails.
    const failingDb = {
      prepare: (query: string) => everyDatabase.prepare(query),
      batch: () => Promise.reject(new Error("D1_ERROR: database is overloaded")),
    } as unknown as D1Database;

    const batch = createMessageBatch(CALLBACKS, messages.map((m, i) => queued(`m-${i}`, m, [1, 3, 8][i])));
    // getQueueResult does not report delays, so the retry calls themselves are watched.
    const delays = new Map<string, number | undefined>();
    for (const m of batch.messages) {
      vi.spyOn(m, "retry").mockImplementation(function (this: Message, options?: QueueRetryOptions) {
        delays.set(m.id, options?.delaySeconds);
        return Object.getPrototypeOf(m).retry.call(m, options);
      });
    }
    const ctx = createExecutionContext();
    const failingStore = { put: () => Promise.reject(new Error("R2 is down")) } as unknown as R2Bucket;
    await worker.queue(batch, { ...env, DB: failingDb, EVENTS_0: failingDb, EVENTS_1: failingDb, STORE: failingStore } as Env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual([]);
    expect(result.ackAll).toBe(false);
    expect(result.retryMessages.map((r) => r.msgId).sort()).toEqual(["m-0", "m-1", "m-2"]);
    expect([...delays.keys()].sort()).toEqual(["m-0", "m-1", "m-2"]);
    for (const delay of delays.values()) expect(delay).toBeGreaterThan(0);
    // A message that has failed more often waits at least as long.
    expect(delays.get("m-1")!).toBeGreaterThanOrEqual(delays.get("m-0")!);
    expect(delays.get("m-2")!).toBeGreaterThanOrEqual(delays.get("m-1")!);

    for (const m of messages) {
      expect(await eventsWithId(m.event_id)).toBe(0);
      expect(await deliveriesOf(m.event_id)).toBe(0);
    }
    expect(crm.requests).toHaveLength(0);

    // The retry, once D1 is back, stores them all.
    const again = await runBatch(messages.map((m, i) => queued(`m-${i}`, m, 2)));
    expect([...again.explicitAcks].sort()).toEqual(["m-0", "m-1", "m-2"]);
    for (const m of messages) expect(await eventsWithId(m.event_id)).toBe(1);
    expect(crm.requests).toHaveLength(3);
  });

  it("throws on a batch from a queue it does not know", async () => {
    const message = await callbackMessage(uniqueId("t"), transferBody());
    const batch = createMessageBatch("some-other-queue", [queued("x", message)]);
    await expect(worker.queue(batch, env, createExecutionContext())).rejects.toThrow(/unknown queue/);
    expect(await eventsWithId(message.event_id)).toBe(0);
  });
});
