import { describe, expect, it } from "vitest";
import {
  admin,
  createTenant,
  waitUntil,
  type CrmHandler,
  cleanedUpAfterEach,
  deliveryOf,
  deliveryById,
  type StoredDelivery,
  sendCallback,
} from "./helpers";
import { everyDatabase } from "./every-database";


const { crm, destination } = cleanedUpAfterEach();

/** The delivery once it has reached `status` with at least `attempts` attempts and no claim. */
const reached = (eventId: string, destinationId: string, status: string, attempts = 1) =>
  waitUntil(async () => {
    const d = await deliveryOf(eventId, destinationId);
    return d !== null && d.status === status && d.attempt_count >= attempts && d.lease_owner === null && d;
  });

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ok: CrmHandler = () => new Response("ok");
/** Failing, and asking for an hour's wait, so that the relay's own retries stay out of each test's way. */
const down: CrmHandler = () => new Response("down", { status: 503, headers: { "retry-after": "3600" } });

describe("POST /v1/admin/deliveries/{id}/retry", () => {
  it("tries a dead delivery again from the start of the schedule", async () => {
    const far = crm(down);
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: far.url() });
    const eventId = await sendCallback(tenant);
    const failed = await reached(eventId, dest.id, "failed");
    // As if the whole schedule had run out (delivery.integration runs it to the end for real).
    await everyDatabase.prepare("UPDATE deliveries SET status = 'dead', next_attempt_at = NULL, schedule_step = 7 WHERE id = ?1").bind(failed.id).run();
    far.answer(ok);

    const retried = await admin("POST", `/v1/admin/deliveries/${failed.id}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.body).toEqual({ queued: 1 });
    const restarted = await deliveryById(failed.id);
    expect(restarted).toMatchObject({ schedule_step: 0 });
    expect(["pending", "delivered"]).toContain(restarted!.status);
    if (restarted!.status === "pending") expect(restarted!.next_attempt_at).toBeLessThanOrEqual(Date.now());

    const delivered = await reached(eventId, dest.id, "delivered", 2);
    expect(delivered).toMatchObject({ attempt_count: 2, schedule_step: 0 });
    const shown = await admin("GET", `/v1/admin/deliveries/${failed.id}`);
    expect(shown.body).toMatchObject({ status: "delivered", attempt_count: 2, last_status_code: 200 });
    expect(shown.body.attempts.map((a: { status_code: number }) => a.status_code)).toEqual([503, 200]);
    expect(far.requests.map((r) => r.headers["webhook-id"])).toEqual([eventId, eventId]);
  });

  it("answers 404 for an unknown delivery", async () => {
    const res = await admin("POST", "/v1/admin/deliveries/dlv_nonexistent/retry");
    expect(res.status).toBe(404);
    expect(res.body.ok).toBe(false);
  });
});

describe("POST /v1/admin/events/{id}/replay", () => {
  it("delivers again to every destination, or to the one named, under the same webhook-id", async () => {
    const a = crm();
    const b = crm();
    const tenant = await createTenant();
    const destA = await destination(tenant, { url: a.url() });
    const destB = await destination(tenant, { url: b.url() });
    const eventId = await sendCallback(tenant);
    await reached(eventId, destA.id, "delivered");
    await reached(eventId, destB.id, "delivered");

    const all = await admin("POST", `/v1/admin/events/${eventId}/replay`, {});
    expect(all.status).toBe(202);
    expect(all.body.queued).toBe(2);
    await reached(eventId, destA.id, "delivered", 2);
    await reached(eventId, destB.id, "delivered", 2);

    const one = await admin("POST", `/v1/admin/events/${eventId}/replay`, { destination_id: destA.id });
    expect(one.status).toBe(202);
    expect(one.body.queued).toBe(1);
    await reached(eventId, destA.id, "delivered", 3);
    await pause(1500);

    expect(a.requests.map((r) => r.headers["webhook-id"])).toEqual([eventId, eventId, eventId]);
    expect(b.requests.map((r) => r.headers["webhook-id"])).toEqual([eventId, eventId]);
    expect(await deliveryOf(eventId, destB.id)).toMatchObject({ attempt_count: 2 });
    // A replay is the same event: same envelope, only the signature's timestamp differs.
    expect(new Set(a.requests.map((r) => r.body)).size).toBe(1);
  });

  it("refuses a destination of another tenant", async () => {
    const tenant = await createTenant();
    const other = await createTenant();
    await destination(tenant, { url: crm().url() });
    const stranger = await destination(other, { url: crm().url() });
    const eventId = await sendCallback(tenant);
    await waitUntil(async () => (await admin("GET", `/v1/admin/events/${eventId}`)).status === 200);

    const res = await admin("POST", `/v1/admin/events/${eventId}/replay`, { destination_id: stranger.id });
    expect(res.status).toBe(404);
  });
});

describe("POST /v1/admin/destinations/{id}/recover", () => {
  it("tries again exactly the failed and dead deliveries since the time given", async () => {
    const far = crm(down);
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: far.url() });
    const since = Date.now();
    const events = { failedNew: "", deadNew: "", deliveredNew: "", failedOld: "", deadOld: "" };
    for (const key of Object.keys(events) as (keyof typeof events)[]) events[key] = await sendCallback(tenant);
    const rows = Object.fromEntries(
      await Promise.all(Object.entries(events).map(async ([k, e]) => [k, await reached(e, dest.id, "failed")] as const)),
    ) as Record<keyof typeof events, StoredDelivery>;

    const later = Date.now() + 3600_000;
    const set = (row: StoredDelivery, status: string, createdAt = row.created_at) =>
      everyDatabase.prepare("UPDATE deliveries SET status = ?2, created_at = ?3, next_attempt_at = ?4 WHERE id = ?1").bind(
        row.id,
        status,
        createdAt,
        status === "failed" ? later : null,
      );
    await everyDatabase.batch([
      set(rows.failedNew, "failed"),
      set(rows.deadNew, "dead"),
      set(rows.deliveredNew, "delivered"),
      set(rows.failedOld, "failed", since - 60_000),
      set(rows.deadOld, "dead", since - 60_000),
    ]);
    far.answer(ok);
    const seen = far.requests.length;

    const res = await admin("POST", `/v1/admin/destinations/${dest.id}/recover`, { since: new Date(since).toISOString() });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ queued: 2, held: 0, continuing: false });

    await reached(events.failedNew, dest.id, "delivered", 2);
    await reached(events.deadNew, dest.id, "delivered", 2);
    await pause(1500);
    expect(far.requests.slice(seen).map((r) => r.headers["webhook-id"]).sort()).toEqual([events.failedNew, events.deadNew].sort());
    expect(await deliveryById(rows.deliveredNew.id)).toMatchObject({ status: "delivered", attempt_count: 1 });
    expect(await deliveryById(rows.failedOld.id)).toMatchObject({ status: "failed", attempt_count: 1, next_attempt_at: later });
    expect(await deliveryById(rows.deadOld.id)).toMatchObject({ status: "dead", attempt_count: 1 });
  });

  it("queues nothing when there is nothing to recover", async () => {
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: crm().url() });
    const res = await admin("POST", `/v1/admin/destinations/${dest.id}/recover`, { since: new Date(Date.now() - 86_400_000).toISOString() });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ queued: 0, held: 0, continuing: false });
  });
});

describe("pausing a destination", () => {
  it("holds new deliveries, never sending them, and releases them in the order received", async () => {
    const far = crm();
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: far.url() });
    const paused = await admin("PATCH", `/v1/admin/destinations/${dest.id}`, { enabled: false });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ enabled: false });
    expect(paused.body.disabled_reason).toEqual(expect.any(String));

    // One at a time, so that "received" has an order.
    const received: string[] = [];
    for (let i = 0; i < 4; i++) {
      const eventId = await sendCallback(tenant);
      await waitUntil(async () => (await deliveryOf(eventId, dest.id))?.status === "held");
      received.push(eventId);
      await pause(5);
    }
    await pause(1500);
    expect(far.requests).toHaveLength(0);
    const held = await admin("GET", `/v1/admin/deliveries?destination=${dest.id}&status=held`);
    expect(held.body.data).toHaveLength(4);

    const resumed = await admin("PATCH", `/v1/admin/destinations/${dest.id}`, { enabled: true });
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ enabled: true, disabled_reason: null });
    for (const eventId of received) await reached(eventId, dest.id, "delivered");

    expect(far.requests.map((r) => r.headers["webhook-id"])).toEqual(received);
    expect(far.requests.map((r) => JSON.parse(r.body).id)).toEqual(received);
  });
});
