import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { seal } from "../src/crypto/secret-box";
import { CALLS_IN_PARALLEL, DOWN_IN_A_ROW_ENDS_TURN } from "../src/delivery/attempt-claimed";
import { config } from "../src/env";
import {
  admin,
  createTenant,
  hangUntilAborted,
  uniqueId,
  waitUntil,
  type CrmHandler,
  cleanedUpAfterEach,
  freshCallback,
  type Tenant,
  deliveryOf,
  deliveryById,
  sendCallback,
  drivenEnv,
  deliver,
  attemptsOfDelivery,
} from "./helpers";
import { everyDatabase } from "./every-database";


const { crm, destination } = cleanedUpAfterEach();
const callback = freshCallback;

const attemptsOf = attemptsOfDelivery;

/** The delivery once `n` attempts are recorded and its claim is released. */
const settled = (eventId: string, destinationId: string, n = 1, timeoutMs?: number) =>
  waitUntil(async () => {
    const d = await deliveryOf(eventId, destinationId);
    return d !== null && d.attempt_count >= n && d.lease_owner === null && d;
  }, timeoutMs);

const makeDue = (deliveryId: string, at = Date.now()) =>
  everyDatabase.prepare("UPDATE deliveries SET next_attempt_at = ?2 WHERE id = ?1").bind(deliveryId, at).run();

/**
 * A stored event whose delivery to each destination is due and has no queue
 * message: the destinations are created paused (so the callback consumer only
 * holds the deliveries) and then enabled in D1 directly, since PATCH would
 * enqueue them itself.
 */
async function dueDeliveries(tenant: Tenant, destinationIds: readonly string[]) {
  const eventId = await sendCallback(tenant);
  const held = await Promise.all(
    destinationIds.map((id) => waitUntil(async () => (await deliveryOf(eventId, id)) ?? undefined)),
  );
  for (const d of held) expect(d.status).toBe("held");
  const now = Date.now();
  await everyDatabase.batch([
    ...destinationIds.map((id) => everyDatabase.prepare("UPDATE destinations SET enabled = 1, disabled_reason = NULL WHERE id = ?1").bind(id)),
    ...held.map((d) => everyDatabase.prepare("UPDATE deliveries SET status = 'pending', next_attempt_at = ?2 WHERE id = ?1").bind(d.id, now)),
  ]);
  return { eventId, deliveryIds: held.map((d) => d.id) };
}

async function oneDueDelivery(handler: CrmHandler, body: Record<string, unknown> = {}) {
  const far = crm(handler);
  const tenant = await createTenant();
  const dest = await destination(tenant, { url: far.url(), ...body, enabled: false });
  const { eventId, deliveryIds } = await dueDeliveries(tenant, [dest.id]);
  return { crm: far, tenant, dest, eventId, deliveryId: deliveryIds[0]! };
}

/** A real callback to a fresh tenant with one destination answering `handler`; resolves once its first attempt is recorded. */
async function firstAttempt(handler: CrmHandler) {
  const far = crm(handler);
  const tenant = await createTenant();
  const dest = await destination(tenant, { url: far.url() });
  const eventId = await sendCallback(tenant);
  const delivery = await settled(eventId, dest.id);
  const [attempt] = await attemptsOf(delivery.id);
  return { crm: far, tenant, dest, eventId, delivery, attempt: attempt! };
}

describe("the outcome of an attempt", () => {
  it("counts any 2xx answer as delivered", async () => {
    const { delivery, attempt, crm: far } = await firstAttempt(() => new Response(null, { status: 204 }));
    expect(far.requests).toHaveLength(1);
    expect(delivery).toMatchObject({ status: "delivered", attempt_count: 1, last_status_code: 204, next_attempt_at: null });
    expect(attempt).toMatchObject({ status_code: 204, error: null });
  });

  it("does not count a redirect as delivered, nor follow it", async () => {
    const { delivery, crm: far } = await firstAttempt(() => new Response(null, { status: 302, headers: { location: "https://elsewhere.crm.test/" } }));
    expect(delivery).toMatchObject({ status: "failed", last_status_code: 302 });
    expect(far.requests).toHaveLength(1);
  });

  it("retries a 500 after 5 s ±20 %, keeping exactly the first 4 KiB of the answer", async () => {
    const answer = Array.from({ length: 10_240 }, (_, i) => String.fromCharCode(97 + (i % 26))).join("");
    const { delivery, attempt, crm: far } = await firstAttempt(() => new Response(answer, { status: 500 }));
    expect(delivery).toMatchObject({ status: "failed", attempt_count: 1, last_status_code: 500, schedule_step: 1 });
    const wait = delivery.next_attempt_at! - far.requests[0]!.at;
    expect(wait).toBeGreaterThanOrEqual(4_000);
    expect(wait).toBeLessThanOrEqual(6_000 + 1_000);
    expect(attempt.status_code).toBe(500);
    expect(new TextEncoder().encode(attempt.response_body!).byteLength).toBe(4096);
    expect(attempt.response_body).toBe(answer.slice(0, 4096));

    const shown = await admin("GET", `/v1/admin/deliveries/${delivery.id}`);
    expect(shown.body).toMatchObject({ status: "failed", attempt_count: 1, last_status_code: 500, next_attempt_at: new Date(delivery.next_attempt_at!).toISOString() });
    expect(shown.body.attempts).toHaveLength(1);
    expect(shown.body.attempts[0]).toMatchObject({ status_code: 500, error: null });
  });

  it("counts a timeout as a failure", async () => {
    const { crm: far, deliveryId } = await oneDueDelivery(hangUntilAborted);
    const driven = drivenEnv({ DELIVERY_TIMEOUT_MS: "200" });
    const result = await deliver(driven.env, [deliveryId]);

    expect(result.retryMessages).toEqual([]);
    expect(far.requests).toHaveLength(1);
    expect(far.requests[0]!.signal.aborted).toBe(true);
    const [attempt, ...more] = await attemptsOf(deliveryId);
    expect(more).toEqual([]);
    expect(attempt).toMatchObject({ status_code: null, error: "timed out after 200 ms" });
    expect(attempt!.duration_ms).toBeGreaterThanOrEqual(200);
    const row = await deliveryById(deliveryId);
    expect(row).toMatchObject({ status: "failed", attempt_count: 1, last_status_code: null, lease_owner: null });
    expect(driven.sent).toHaveLength(1);
    expect(driven.sent[0]!.body).toEqual({ t: "delivery", delivery_id: deliveryId });
    expect(driven.sent[0]!.delaySeconds).toBeGreaterThanOrEqual(4);
    expect(driven.sent[0]!.delaySeconds).toBeLessThanOrEqual(6);
  });

  it("counts a refused connection as a failure, and says so", async () => {
    const tenant = await createTenant();
    // Nothing listens on the discard port: the connection is refused.
    const dest = await destination(tenant, { url: "http://127.0.0.1:9/hook" });
    const eventId = await sendCallback(tenant);
    const delivery = await settled(eventId, dest.id);
    expect(delivery).toMatchObject({ status: "failed", attempt_count: 1, last_status_code: null });
    expect(delivery.next_attempt_at).not.toBeNull();
    const [attempt] = await attemptsOf(delivery.id);
    expect(attempt!.status_code).toBeNull();
    expect(attempt!.error).toBe("connection refused by 127.0.0.1:9");
  });

  for (const status of [429, 503]) {
    it(`waits at least the Retry-After of a ${status}`, async () => {
      const { delivery, crm: far } = await firstAttempt(() => new Response("slow down", { status, headers: { "retry-after": "120" } }));
      expect(delivery).toMatchObject({ status: "failed", last_status_code: status });
      const wait = delivery.next_attempt_at! - far.requests[0]!.at;
      expect(wait).toBeGreaterThanOrEqual(120_000);
      expect(wait).toBeLessThanOrEqual(120_000 + 2_000);
    });
  }

  it("caps a Retry-After of three days at 24 hours, chaining queue delays of at most 12 hours", async () => {
    const threeDays = String(3 * 86_400);
    const { crm: far, deliveryId } = await oneDueDelivery(() => new Response(null, { status: 503, headers: { "retry-after": threeDays } }));
    const driven = drivenEnv();
    await deliver(driven.env, [deliveryId]);

    const row = await deliveryById(deliveryId);
    expect(row).toMatchObject({ status: "failed", last_status_code: 503 });
    const wait = row!.next_attempt_at! - far.requests[0]!.at;
    expect(wait).toBeGreaterThanOrEqual(86_400_000);
    expect(wait).toBeLessThanOrEqual(86_400_000 + 2_000);
    expect(driven.sent.map((m) => m.delaySeconds)).toEqual([43_200]);
  });

  it("pauses the destination on a 410 and holds its deliveries", async () => {
    const { delivery, dest, tenant, crm: far } = await firstAttempt(() => new Response("gone", { status: 410 }));
    expect(delivery).toMatchObject({ status: "held", attempt_count: 1, last_status_code: 410, next_attempt_at: null });
    const shown = await admin("GET", `/v1/admin/destinations/${dest.id}`);
    expect(shown.body.enabled).toBe(false);
    expect(shown.body.disabled_reason).toMatch(/410/);

    const later = await sendCallback(tenant);
    const next = await waitUntil(async () => (await deliveryOf(later, dest.id)) ?? undefined);
    expect(next.status).toBe("held");
    await new Promise((r) => setTimeout(r, 1500));
    expect(far.requests).toHaveLength(1);
  });
});

describe("the retry schedule", () => {
  it('with RETRY_SCHEDULE="1,1", ends dead after exactly 3 attempts, all recorded, all under one webhook-id', async () => {
    const { crm: far, dest, eventId, deliveryId } = await oneDueDelivery(() => new Response("down", { status: 500 }));
    const driven = drivenEnv({ RETRY_SCHEDULE: "1,1" });
    const row = () => deliveryById(deliveryId);

    for (const step of [1, 2]) {
      await deliver(driven.env, [deliveryId]);
      const after = await row();
      expect(after).toMatchObject({ status: "failed", attempt_count: step, schedule_step: step, last_status_code: 500 });
      const wait = after!.next_attempt_at! - far.requests[step - 1]!.at;
      expect(wait).toBeGreaterThanOrEqual(800);
      expect(wait).toBeLessThanOrEqual(1_200 + 1_000);
      await makeDue(deliveryId);
    }
    await deliver(driven.env, [deliveryId]);
    expect(await row()).toMatchObject({ status: "dead", attempt_count: 3, next_attempt_at: null });

    // A message still in flight for a dead delivery sends nothing.
    await deliver(driven.env, [deliveryId]);
    expect(far.requests).toHaveLength(3);
    expect(driven.sent.map((m) => (m.body as { delivery_id: string }).delivery_id)).toEqual([deliveryId, deliveryId]);

    const attempts = await attemptsOf(deliveryId);
    expect(attempts.map((a) => a.status_code)).toEqual([500, 500, 500]);
    const shown = await admin("GET", `/v1/admin/deliveries/${deliveryId}`);
    expect(shown.body).toMatchObject({ status: "dead", attempt_count: 3, next_attempt_at: null });
    expect(shown.body.attempts).toHaveLength(3);

    const webhook = new Webhook(dest.secret);
    for (const r of far.requests) {
      expect(r.headers["webhook-id"]).toBe(eventId);
      expect(webhook.verify(r.body, r.headers)).toMatchObject({ id: eventId });
    }
  });
});

describe("what each destination gets", () => {
  it("only the event types it subscribes to", async () => {
    const far = crm();
    const tenant = await createTenant();
    const qaOnly = await destination(tenant, { url: far.url("/qa"), event_types: ["airudder.qa.report"] });
    const inbound = await destination(tenant, { url: far.url("/inbound"), event_types: ["airudder.inbound.transfer", "airudder.pds.task_status"] });
    const all = await destination(tenant, { url: far.url("/all") });

    const transfer = await sendCallback(tenant);
    const generic = await sendCallback(tenant, JSON.stringify({ note: "not a known family", n: 1 }), "any");
    await settled(transfer, inbound.id);
    await settled(transfer, all.id);
    await settled(generic, all.id);

    expect(await deliveryOf(transfer, qaOnly.id)).toBeNull();
    expect(await deliveryOf(generic, qaOnly.id)).toBeNull();
    expect(await deliveryOf(generic, inbound.id)).toBeNull();
    const got = (path: string) => far.requests.filter((r) => r.url === far.url(path)).map((r) => r.headers["webhook-id"]);
    expect(got("/qa")).toEqual([]);
    expect(got("/inbound")).toEqual([transfer]);
    expect(got("/all").sort()).toEqual([transfer, generic].sort());
    expect(JSON.parse(far.requests.find((r) => r.headers["webhook-id"] === generic)!.body).type).toBe("airudder.generic");
  });

  it('in format "raw", the body exactly as posted, signed as sent', async () => {
    const far = crm();
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: far.url(), format: "raw" });
    const posted = callback().replace('"robot_id": "7325"', '"robot_id"  :  "7325" ,\n\t"extra": 1.50e0, "esc": "\\u00e9\\/"');
    const eventId = await sendCallback(tenant, posted);
    const got = await waitUntil(async () => far.requests[0]);
    expect(got.body).toBe(posted);
    expect(got.headers["content-type"]).toBe("application/json");
    expect(got.headers["webhook-id"]).toBe(eventId);
    expect(new Webhook(dest.secret).verify(got.body, got.headers)).toEqual(JSON.parse(posted));
  });

  it("its custom headers, and never a reserved one saved before it was refused", async () => {
    const far = crm();
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: far.url() });
    // Written straight to D1, as a row from before the admin API refused these names.
    const legacy = {
      "X-Api-Key": "k-123",
      Authorization: "Bearer crm-token",
      "Content-Type": "text/plain",
      "Webhook-Id": "forged",
      "webhook-timestamp": "1",
      "Webhook-Signature": "v1,Zm9yZ2Vk",
      Connection: "close",
      "User-Agent": "forged-agent",
    };
    await everyDatabase.prepare("UPDATE destinations SET headers_enc = ?1 WHERE id = ?2")
      .bind(await seal(JSON.stringify(legacy), env.ENCRYPTION_KEY), dest.id)
      .run();
    const eventId = await sendCallback(tenant);
    const got = await waitUntil(async () => far.requests[0]);
    expect(got.headers["x-api-key"]).toBe("k-123");
    expect(got.headers.authorization).toBe("Bearer crm-token");
    expect(got.headers["content-type"]).toBe("application/json");
    expect(got.headers["webhook-id"]).toBe(eventId);
    expect(got.headers["webhook-signature"]).not.toContain("Zm9yZ2Vk");
    expect(got.headers["user-agent"]).not.toBe("forged-agent");
    expect(Math.abs(Number(got.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(60);
    expect(new Webhook(dest.secret).verify(got.body, got.headers)).toMatchObject({ id: eventId });
  });

  it("after a secret rotation, two signatures that the old and the new secret each verify", async () => {
    const far = crm();
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: far.url() });
    await sendCallback(tenant);
    const before = await waitUntil(async () => far.requests[0]);
    expect(before.headers["webhook-signature"]!.split(" ")).toHaveLength(1);

    const rotated = await admin<{ secret: string }>("POST", `/v1/admin/destinations/${dest.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(dest.secret);

    const eventId = await sendCallback(tenant);
    const after = await waitUntil(async () => far.requests[1]);
    const signatures = after.headers["webhook-signature"]!.split(" ");
    expect(signatures).toHaveLength(2);
    for (const s of signatures) expect(s).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(dest.secret).verify(after.body, after.headers)).toMatchObject({ id: eventId });
    expect(new Webhook(rotated.body.secret).verify(after.body, after.headers)).toMatchObject({ id: eventId });
    const stranger = "whsec_" + btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24))));
    expect(() => new Webhook(stranger).verify(after.body, after.headers)).toThrow();
  });
});

describe("one destination's turn in a deliveries batch", () => {
  /** `n` events held for one paused destination, then made due at once, with no queue message. */
  async function backlog(handler: CrmHandler, n: number) {
    const far = crm(handler);
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: far.url(), enabled: false });
    const events: string[] = [];
    const due: string[] = [];
    for (let i = 0; i < n; i++) {
      const eventId = await sendCallback(tenant);
      const held = await waitUntil(async () => (await deliveryOf(eventId, dest.id)) ?? undefined);
      expect(held.status).toBe("held");
      events.push(eventId);
      due.push(held.id);
    }
    const now = Date.now();
    await everyDatabase.batch([
      everyDatabase.prepare("UPDATE destinations SET enabled = 1, disabled_reason = NULL WHERE id = ?1").bind(dest.id),
      ...due.map((id) => everyDatabase.prepare("UPDATE deliveries SET status = 'pending', next_attempt_at = ?2 WHERE id = ?1").bind(id, now)),
    ]);
    return { far, events, due };
  }

  const row = (id: string) => deliveryById(id);

  it("starts calls in the order received, at most CALLS_IN_PARALLEL at once, and ends after three 'down' answers in a row, handing the rest back unattempted", async () => {
    const n = CALLS_IN_PARALLEL + 4;
    const { far, events, due } = await backlog(() => new Response("down", { status: 503, headers: { "retry-after": "600" } }), n);
    const driven = drivenEnv();

    await deliver(driven.env, [...due].reverse());
    // Calls already under way when the third "down" is recorded still finish: at most two more than one full wave start.
    const tried = far.requests.length;
    expect(tried).toBeGreaterThanOrEqual(CALLS_IN_PARALLEL);
    expect(tried).toBeLessThanOrEqual(CALLS_IN_PARALLEL + DOWN_IN_A_ROW_ENDS_TURN - 1);
    expect(far.requests.map((r) => r.headers["webhook-id"]).sort()).toEqual(events.slice(0, tried).sort());
    for (const id of due.slice(0, tried)) expect(await row(id)).toMatchObject({ status: "failed", attempt_count: 1 });
    for (const id of due.slice(tried)) {
      const rest = await row(id);
      expect(rest).toMatchObject({ status: "pending", attempt_count: 0, schedule_step: 0, lease_owner: null });
      expect(rest!.next_attempt_at!).toBeGreaterThanOrEqual(Date.now() + 590_000);
    }
    expect(driven.sent.map((m) => (m.body as { delivery_id: string }).delivery_id).sort()).toEqual([...due].sort());
    expect(driven.sent.every((m) => (m.delaySeconds ?? 0) >= 590)).toBe(true);
  });

  it("does not let one payload's 4xx hold up the rest of the destination's turn", async () => {
    let n = 0;
    const { far, due } = await backlog(() => new Response(n++ === 0 ? "bad payload" : "ok", { status: n === 1 ? 400 : 200 }), 4);
    await deliver(drivenEnv().env, due);
    expect(far.requests).toHaveLength(4);
    expect((await Promise.all(due.map(row))).map((r) => r!.status)).toEqual(["failed", "delivered", "delivered", "delivered"]);
  });

  it("delivers a healthy destination's backlog oldest first", async () => {
    const { far, events, due } = await backlog(() => new Response("ok"), 4);
    await deliver(drivenEnv().env, [due[2]!, due[0]!, due[3]!, due[1]!]);
    expect(far.requests.map((r) => r.headers["webhook-id"])).toEqual(events);
  });
});

describe("independent destinations", () => {
  it("a hung CRM does not hold up a healthy one of the same tenant", async () => {
    const timeoutMs = config(env).DELIVERY_TIMEOUT_MS;
    const hung = crm(hangUntilAborted);
    const healthy = crm();
    const tenant = await createTenant();
    const hungDest = await destination(tenant, { url: hung.url() });
    const healthyDest = await destination(tenant, { url: healthy.url() });

    const eventId = await sendCallback(tenant);
    const [got, stuck] = await waitUntil(async () => healthy.requests.length > 0 && hung.requests.length > 0 && [healthy.requests[0]!, hung.requests[0]!]);
    expect(Math.abs(got.at - stuck.at)).toBeLessThan(timeoutMs / 3);
    // The healthy outcome is on record while the hung attempt is still in flight.
    await waitUntil(async () => (await deliveryOf(eventId, healthyDest.id))?.status === "delivered", timeoutMs / 2);
    expect(await deliveryOf(eventId, hungDest.id)).toMatchObject({ status: "pending", attempt_count: 0 });

    const hungDelivery = await settled(eventId, hungDest.id, 1, timeoutMs + 15_000);
    expect(hungDelivery.status).toBe("failed");
    const [hungAttempt] = await attemptsOf(hungDelivery.id);
    expect(hungAttempt!.error).toBe(`timed out after ${timeoutMs} ms`);
    const healthyDelivery = await deliveryOf(eventId, healthyDest.id);
    expect(healthyDelivery).toMatchObject({ status: "delivered", attempt_count: 1 });
    expect(healthy.requests).toHaveLength(1);
    // Each attempt is recorded at the time it was made, not when the slowest of its batch ended.
    const [healthyAttempt] = await attemptsOf(healthyDelivery!.id);
    expect(Math.abs(healthyAttempt!.at - got.at)).toBeLessThan(timeoutMs / 3);
    expect(Math.abs(hungAttempt!.at - stuck.at)).toBeLessThan(timeoutMs / 3);
  }, 60_000);

  it("a failing CRM's retries never send the healthy one its delivery again", async () => {
    const failing = crm(() => new Response("down", { status: 500 }));
    const healthy = crm();
    const tenant = await createTenant();
    const failingDest = await destination(tenant, { url: failing.url(), enabled: false });
    const healthyDest = await destination(tenant, { url: healthy.url(), enabled: false });
    const { eventId, deliveryIds } = await dueDeliveries(tenant, [failingDest.id, healthyDest.id]);
    const driven = drivenEnv();
    const messageIds = deliveryIds.map(() => uniqueId("msg"));

    await deliver(driven.env, deliveryIds, messageIds);
    expect(await deliveryOf(eventId, failingDest.id)).toMatchObject({ status: "failed", attempt_count: 1 });
    expect(await deliveryOf(eventId, healthyDest.id)).toMatchObject({ status: "delivered", attempt_count: 1 });

    // The failing one comes due again, and the whole first batch is redelivered as well as its own retry.
    await makeDue(deliveryIds[0]!);
    await deliver(driven.env, deliveryIds, messageIds);
    await makeDue(deliveryIds[0]!);
    await deliver(driven.env, [deliveryIds[0]!]);

    expect(failing.requests).toHaveLength(3);
    expect(healthy.requests).toHaveLength(1);
    expect(await deliveryOf(eventId, healthyDest.id)).toMatchObject({ status: "delivered", attempt_count: 1 });
    expect(await attemptsOf(deliveryIds[1]!)).toHaveLength(1);
  });
});

describe("a delivery message", () => {
  it("processed twice, in one batch, in two batches or in the same batch again, makes one attempt", async () => {
    const { crm: far, deliveryId } = await oneDueDelivery(() => new Response("ok"));
    const driven = drivenEnv();
    const messageIds = [uniqueId("msg"), uniqueId("msg")];

    const first = await deliver(driven.env, [deliveryId, deliveryId], messageIds);
    expect(first.explicitAcks.sort()).toEqual([...messageIds].sort());
    await deliver(driven.env, [deliveryId, deliveryId], messageIds);
    await deliver(driven.env, [deliveryId]);

    expect(far.requests).toHaveLength(1);
    expect(await attemptsOf(deliveryId)).toHaveLength(1);
    expect(await deliveryById(deliveryId)).toMatchObject({ status: "delivered", attempt_count: 1 });
  });

  it("processed by two consumers at once makes one attempt", async () => {
    const { crm: far, deliveryId } = await oneDueDelivery(async () => {
      await new Promise((r) => setTimeout(r, 200));
      return new Response("ok");
    });
    const driven = drivenEnv();
    const results = await Promise.all([deliver(driven.env, [deliveryId]), deliver(driven.env, [deliveryId])]);

    for (const r of results) expect(r.explicitAcks).toHaveLength(1);
    expect(far.requests).toHaveLength(1);
    expect(await attemptsOf(deliveryId)).toHaveLength(1);
  });

  it("that arrives before the delivery is due is not attempted, and is sent on for the rest of the wait", async () => {
    const { crm: far, deliveryId } = await oneDueDelivery(() => new Response("ok"));
    const setWait = (ms: number) =>
      everyDatabase.prepare("UPDATE deliveries SET status = 'failed', next_attempt_at = ?2 WHERE id = ?1").bind(deliveryId, Date.now() + ms).run();

    await setWait(20 * 3600_000);
    const far20h = drivenEnv();
    const result = await deliver(far20h.env, [deliveryId]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(far20h.sent).toEqual([expect.objectContaining({ body: { t: "delivery", delivery_id: deliveryId }, delaySeconds: 43_200 })]);

    await setWait(100_000);
    const soon = drivenEnv();
    await deliver(soon.env, [deliveryId]);
    expect(soon.sent).toHaveLength(1);
    expect(soon.sent[0]!.delaySeconds).toBeGreaterThanOrEqual(99);
    expect(soon.sent[0]!.delaySeconds).toBeLessThanOrEqual(100);

    expect(far.requests).toHaveLength(0);
    expect(await attemptsOf(deliveryId)).toHaveLength(0);
    expect(await deliveryById(deliveryId)).toMatchObject({ status: "failed", attempt_count: 0 });
  });
});
