import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../src/env";
import worker from "../src/index";
import { sweep } from "../src/maintenance/sweep";
import { MAX_REDRIVES } from "../src/queue-messages";
import { callbackMessage, cleanedUpAfterEach, createTenant, deliveryOf, drivenEnv, freshCallback, uniqueId, waitUntil } from "./helpers";
import { everyDatabase } from "./every-database";

/*
 * Messages that exhausted their queue retries: the dead-letter consumer
 * records them, and the sweep hands callbacks, jobs and erasures back to
 * their queue (src/maintenance/redrive.ts) until they have been handed back
 * MAX_REDRIVES times.
 */

const { crm, destination } = cleanedUpAfterEach();

afterEach(() => {
  vi.restoreAllMocks();
});

/** Records messages the way the dead-letter queue hands them over, and answers their dead-letter ids. */
async function deadLetter(bodies: unknown[]): Promise<string[]> {
  const batch = createMessageBatch(
    "airudder-relay-dead-letters",
    bodies.map((body) => ({ id: uniqueId("dl"), timestamp: new Date(), attempts: 11, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  expect((await getQueueResult(batch, ctx)).explicitAcks).toHaveLength(bodies.length);
  return batch.messages.map((m) => m.id);
}

const deadLetterRow = (id: string) => everyDatabase.prepare("SELECT queue, body FROM dead_letters WHERE id = ?1").bind(id).first<{ queue: string; body: string }>();

describe("a dead-lettered callback", () => {
  it("that was never stored is handed back by the sweep, reaches the CRM once, and its dead letter is gone", async () => {
    const far = crm();
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: far.url() });
    const message = await callbackMessage(tenant.id, freshCallback());
    const [id] = await deadLetter([message]);
    expect(await deadLetterRow(id!)).not.toBeNull();
    expect(await deliveryOf(message.event_id, dest.id)).toBeNull();

    const result = await sweep(env);
    expect(result.redriven).toBeGreaterThanOrEqual(1);
    expect(await deadLetterRow(id!)).toBeNull();
    await waitUntil(async () => far.requests.length === 1);
    const delivered = await waitUntil(async () => {
      const d = await deliveryOf(message.event_id, dest.id);
      return d?.status === "delivered" && d;
    });
    expect(delivered.attempt_count).toBe(1);
    expect(JSON.parse(far.requests[0]!.body)).toMatchObject({ id: message.event_id });

    // Nothing of it is left to hand back: the next sweep sends nothing more.
    await sweep(env);
    await sweep(env);
    expect(far.requests).toHaveLength(1);
    expect(await everyDatabase.prepare("SELECT COUNT(*) AS n FROM events WHERE id = ?1").bind(message.event_id).first<number>("n")).toBe(1);
  });

  it("carries how many times it was handed back, and once handed back MAX_REDRIVES times stays a dead letter and is logged", async () => {
    const tenant = await createTenant();
    const message = await callbackMessage(tenant.id, freshCallback());
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: unknown) => void errors.push(String(line)));

    const [spent, lastTry] = await deadLetter([
      { ...message, redriven: MAX_REDRIVES },
      { ...(await callbackMessage(tenant.id, freshCallback())), redriven: MAX_REDRIVES - 1 },
    ]);
    const logged = errors.map((e) => JSON.parse(e) as { msg: string; dead_letters: string[]; events: string[] }).find((e) => /kept as dead letters/.test(e.msg));
    expect(logged).toMatchObject({ dead_letters: [spent], events: [message.event_id] });

    const sent: unknown[] = [];
    const callbacks = { sendBatch: async (batch: Iterable<MessageSendRequest>) => void sent.push(...[...batch].map((m) => m.body)) };
    await sweep({ ...env, CALLBACKS_QUEUE: callbacks } as unknown as Env);
    expect(await deadLetterRow(spent!)).not.toBeNull();
    expect(await deadLetterRow(lastTry!)).toBeNull();
    const handedBack = sent.filter((b) => (b as { tenant_id: string }).tenant_id === tenant.id);
    expect(handedBack).toHaveLength(1);
    expect(handedBack[0]).toMatchObject({ t: "callback", redriven: MAX_REDRIVES });
  });

  it("stays a dead letter when the queue refuses it back, and goes on the next sweep", async () => {
    const tenant = await createTenant();
    const message = await callbackMessage(tenant.id, freshCallback());
    const [id] = await deadLetter([message]);
    const refusing = { sendBatch: async () => Promise.reject(new Error("Queue send failed: service unavailable")) };
    await expect(sweep({ ...env, CALLBACKS_QUEUE: refusing } as unknown as Env)).rejects.toThrow(/service unavailable/);
    expect(await deadLetterRow(id!)).not.toBeNull();

    await sweep(env);
    expect(await deadLetterRow(id!)).toBeNull();
    await waitUntil(async () => (await everyDatabase.prepare("SELECT COUNT(*) AS n FROM events WHERE id = ?1").bind(message.event_id).first<number>("n")) === 1);
  });

  it("that is not a readable callback is handed back once and then recorded as unreadable, never again", async () => {
    const marker = uniqueId("junk");
    const [id] = await deadLetter([{ t: "callback", lost: marker }]);
    await sweep(env);
    expect(await deadLetterRow(id!)).toBeNull();
    // The callbacks consumer records it under its own queue: a message of the wrong shape is not retried.
    const unreadable = await waitUntil(
      async () =>
        (await everyDatabase.prepare("SELECT id, queue, body FROM dead_letters WHERE body LIKE ?1").bind(`%${marker}%`).first<{ id: string; queue: string; body: string }>()) ??
        undefined,
    );
    expect(unreadable.queue).toBe("airudder-relay-callbacks");
    expect(JSON.parse(unreadable.body)).toEqual({ t: "callback", lost: marker, redriven: 1 });

    await sweep(env);
    const rows = await everyDatabase.prepare("SELECT id, queue FROM dead_letters WHERE body LIKE ?1").bind(`%${marker}%`).all<{ id: string; queue: string }>();
    expect(rows.results).toEqual([{ id: unreadable.id, queue: "airudder-relay-callbacks" }]);
  });
});

describe("other dead letters", () => {
  it("a job or an erasure goes back to the deliveries queue; a delivery stays, since D1 still holds it as due", async () => {
    const job = { t: "job", job: "release", destination_id: uniqueId("dst") };
    const erase = { t: "erase", tenant_id: uniqueId("t"), needles_sealed: "sealed", table: "events" };
    const delivery = { t: "delivery", delivery_id: uniqueId("dlv") };
    const [jobId, eraseId, deliveryId] = await deadLetter([job, erase, delivery]);

    const driven = drivenEnv();
    const result = await sweep(driven.env);
    expect(result.redriven).toBeGreaterThanOrEqual(2);
    expect(driven.sent.map((m) => m.body)).toEqual(expect.arrayContaining([{ ...job, redriven: 1 }, { ...erase, redriven: 1 }]));
    expect(driven.sent.map((m) => m.body)).not.toContainEqual(expect.objectContaining({ delivery_id: delivery.delivery_id }));
    expect(await deadLetterRow(jobId!)).toBeNull();
    expect(await deadLetterRow(eraseId!)).toBeNull();
    expect(await deadLetterRow(deliveryId!)).toMatchObject({ queue: "airudder-relay-dead-letters" });
  });
});
