import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { seal } from "../src/crypto/secret-box";
import { CHUNK, runJob } from "../src/delivery/operator";
import { MAX_UNRECORDED_CLAIMS, OVERDUE_AFTER_MS, REQUEUE_AFTER_MS } from "../src/delivery/lifecycle";
import { findEvent } from "../src/query/events";
import { sweep } from "../src/maintenance/sweep";
import type { DeliveryJob } from "../src/queue-messages";
import sample from "./fixtures/inbound-transfer.sample.json?raw";
import {
  admin,
  call,
  cleanedUpAfterEach,
  createTenant,
  deliver,
  deliveryById,
  deliveryOf,
  drivenEnv,
  sendCallback,
  waitUntil,
  ADMIN,
  type CrmHandler,
  type Tenant,
  attemptsOfDelivery,
} from "./helpers";
import { everyDatabase } from "./every-database";

const { crm, destination } = cleanedUpAfterEach();

/** The doc's sample as event `n` of call `callid`: same call, a body (and so an event) of its own. */
function callEvent(callid: string, n: number): string {
  const body = JSON.parse(sample) as Record<string, unknown>;
  body.callid = callid;
  body.relay_test_step = n;
  return JSON.stringify(body);
}

const newCallId = () => crypto.randomUUID().replace(/-/g, "");

const attempts = attemptsOfDelivery;

/** Events of the given calls held for a paused destination, in the order sent; answers their delivery ids in that order. */
async function heldEvents(tenant: Tenant, destinationId: string, bodies: readonly string[]) {
  const due: string[] = [];
  const events: string[] = [];
  for (const body of bodies) {
    const eventId = await sendCallback(tenant, body);
    const held = await waitUntil(async () => (await deliveryOf(eventId, destinationId)) ?? undefined);
    expect(held.status).toBe("held");
    events.push(eventId);
    due.push(held.id);
  }
  return { events, due };
}

/** Held deliveries made due for a now enabled destination, with no queue message: the test hands them to the consumer. */
async function makeDue(destinationId: string, ids: readonly string[]) {
  const now = Date.now();
  await everyDatabase.batch([
    everyDatabase.prepare("UPDATE destinations SET enabled = 1, disabled_reason = NULL WHERE id = ?1").bind(destinationId),
    ...ids.map((id) => everyDatabase.prepare("UPDATE deliveries SET status = 'pending', next_attempt_at = ?2 WHERE id = ?1").bind(id, now)),
  ]);
}

async function pausedDestination(handler: CrmHandler, body: Record<string, unknown> = {}) {
  const far = crm(handler);
  const tenant = await createTenant();
  const dest = await destination(tenant, { url: far.url(), enabled: false, ...body });
  return { far, tenant, dest };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const countBy = (ids: readonly string[]) => ids.reduce((m, id) => m.set(id, (m.get(id) ?? 0) + 1), new Map<string, number>());

describe("a turn that outlives its lease", () => {
  it("renews the lease, so a second invocation claiming the same deliveries meanwhile sends none of them again", { timeout: 60_000 }, async () => {
    let second: Promise<unknown> | undefined;
    const driven = drivenEnv({ DELIVERY_TIMEOUT_MS: "300" }); // a lease of 2 × 300 ms + 5 s
    const { far, tenant, dest } = await pausedDestination(async () => {
      await sleep(350);
      if (far.requests.length === 17) second = deliver(driven.env, due);
      return new Response("ok");
    });
    const callid = newCallId();
    const { events, due } = await heldEvents(tenant, dest.id, Array.from({ length: 20 }, (_, i) => callEvent(callid, i)));
    await makeDue(dest.id, due);

    await deliver(driven.env, due);
    expect(second).toBeDefined();
    await second;
    const sent = far.requests.map((r) => r.headers["webhook-id"]!);
    expect(sent).toEqual(events);
    expect([...countBy(sent).values()].every((n) => n === 1)).toBe(true);
  });
});

describe("an attempt that cannot be made", () => {
  it("is a recorded failed attempt with a readable error that goes through the schedule, dies and alerts, and never holds up another tenant's delivery in its batch", async () => {
    const alerts = crm();
    const driven = drivenEnv({ RETRY_SCHEDULE: "1", ALERT_WEBHOOK_URL: alerts.url("/alerts") });
    const broken = await pausedDestination(() => new Response("ok"));
    const healthy = await pausedDestination(() => new Response("ok"));
    const [b] = (await heldEvents(broken.tenant, broken.dest.id, [callEvent(newCallId(), 0)])).due;
    const [h] = (await heldEvents(healthy.tenant, healthy.dest.id, [callEvent(newCallId(), 0)])).due;
    // The secret as an ENCRYPTION_KEY change leaves it: sealed under a key this Worker does not have.
    const otherKey = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
    await everyDatabase.prepare("UPDATE destinations SET secret_enc = ?2 WHERE id = ?1").bind(broken.dest.id, await seal("whsec_AAAAAAAAAAAAAAAAAAAAAA==", otherKey)).run();
    await makeDue(broken.dest.id, [b!]);
    await makeDue(healthy.dest.id, [h!]);

    await deliver(driven.env, [b!, h!]);
    expect(await deliveryById(h!)).toMatchObject({ status: "delivered", attempt_count: 1 });
    expect(healthy.far.requests).toHaveLength(1);
    expect(await deliveryById(b!)).toMatchObject({ status: "failed", attempt_count: 1, lease_owner: null });
    const [first] = await attempts(b!);
    expect(first!.error).toMatch(/^could not prepare the request: /);
    expect(broken.far.requests).toHaveLength(0);

    await everyDatabase.prepare("UPDATE deliveries SET next_attempt_at = ?2 WHERE id = ?1").bind(b!, Date.now()).run();
    await deliver(driven.env, [b!]);
    expect(await deliveryById(b!)).toMatchObject({ status: "dead", attempt_count: 2 });
    const alert = await waitUntil(async () => alerts.requests.find((r) => JSON.parse(r.body).type === "relay.delivery.dead"));
    expect(JSON.parse(alert.body).data).toMatchObject({ delivery_id: b, error: expect.stringMatching(/could not prepare the request/) });
  });
});

describe("an outcome that could not be recorded", () => {
  it("counts every claim, and after MAX_UNRECORDED_CLAIMS claims without a record the delivery dies with a logged reason and an alert instead of being sent again", async () => {
    const alerts = crm();
    const driven = drivenEnv({ ALERT_WEBHOOK_URL: alerts.url("/alerts") });
    const { far, tenant, dest } = await pausedDestination(() => new Response("ok"));
    const [id] = (await heldEvents(tenant, dest.id, [callEvent(newCallId(), 0)])).due;
    await makeDue(dest.id, [id!]);
    // What MAX_UNRECORDED_CLAIMS - 1 sends whose 2xx D1 refused to record leave behind: claims counted, no attempt, lease run out.
    await everyDatabase.prepare("UPDATE deliveries SET claims = ?2 WHERE id = ?1").bind(id!, MAX_UNRECORDED_CLAIMS - 1).run();
    far.answer(async () => {
      await everyDatabase.prepare("UPDATE deliveries SET lease_until = 0, lease_owner = 'a-dead-invocation' WHERE id = ?1").bind(id!).run();
      return new Response("ok");
    });
    // This claim is the last allowed; its recording is lost too (its lease was taken over).
    await deliver(driven.env, [id!]);
    expect(far.requests).toHaveLength(1);
    expect(await deliveryById(id!)).toMatchObject({ status: "pending", claims: MAX_UNRECORDED_CLAIMS, attempt_count: 0 });

    await deliver(driven.env, [id!]);
    expect(far.requests).toHaveLength(1);
    expect(await deliveryById(id!)).toMatchObject({ status: "dead", lease_owner: null });
    expect((await attempts(id!)).map((a) => a.error)).toContainEqual(expect.stringMatching(/outcome of 3 attempts could not be recorded/));
    await waitUntil(async () => alerts.requests.some((r) => JSON.parse(r.body).data.delivery_id === id));
  });
});

describe("held deliveries", () => {
  it("left held by a release that stopped part way (or stored held from a stale snapshot) are released by the sweep, oldest first", async () => {
    const driven = drivenEnv();
    const { tenant, dest } = await pausedDestination(() => new Response("ok"));
    const { due } = await heldEvents(tenant, dest.id, [callEvent(newCallId(), 0), callEvent(newCallId(), 0), callEvent(newCallId(), 0)]);
    // The PATCH committed `enabled`, then its release failed.
    await everyDatabase.prepare("UPDATE destinations SET enabled = 1 WHERE id = ?1").bind(dest.id).run();

    const result = await sweep(driven.env);
    expect(result.releasing).toBeGreaterThanOrEqual(1);
    for (const id of due) expect(await deliveryById(id)).toMatchObject({ status: "pending" });
    const queued = driven.sent.map((m) => (m.body as { delivery_id?: string }).delivery_id).filter((x) => x !== undefined && due.includes(x));
    expect(queued).toEqual(due);
  });

  it("when the destination is enabled, arrive once each, every call in the order received, calls in parallel", async () => {
    let inFlight = 0;
    let mostAtOnce = 0;
    const { far, tenant, dest } = await pausedDestination(async () => {
      mostAtOnce = Math.max(mostAtOnce, ++inFlight);
      await sleep(200);
      inFlight--;
      return new Response("ok");
    });
    const calls = [newCallId(), newCallId(), newCallId()];
    const bodies = [0, 1, 2, 3].flatMap((n) => calls.map((c) => callEvent(c, n)));
    const { events } = await heldEvents(tenant, dest.id, bodies);
    expect((await admin("PATCH", `/v1/admin/destinations/${dest.id}`, { enabled: true })).status).toBe(200);
    await waitUntil(async () => far.requests.length >= events.length, 20_000);

    const sent = far.requests.map((r) => r.headers["webhook-id"]!);
    expect(sent.slice().sort()).toEqual(events.slice().sort());
    for (const c of calls) {
      const ofCall = events.filter((_, i) => bodies[i]!.includes(c));
      expect(sent.filter((id) => ofCall.includes(id))).toEqual(ofCall);
    }
    // Calls overlap at the CRM (one by one, it would never see two at once); a call's own events never do (checked above).
    expect(mostAtOnce).toBeGreaterThan(1);
  });

  it("make a new event of the same call wait: it is not sent before them", async () => {
    const driven = drivenEnv();
    const { far, tenant, dest } = await pausedDestination(() => new Response("ok"));
    const callid = newCallId();
    const { events, due } = await heldEvents(tenant, dest.id, [callEvent(callid, 0)]);
    // Enabled, the release not yet done.
    await everyDatabase.prepare("UPDATE destinations SET enabled = 1, disabled_reason = NULL WHERE id = ?1").bind(dest.id).run();
    const later = await sendCallback(tenant, callEvent(callid, 1));
    const waiting = await waitUntil(async () => (await deliveryOf(later, dest.id)) ?? undefined);
    expect(waiting).toMatchObject({ status: "pending", lease_owner: null, attempt_count: 0 });
    await deliver(driven.env, [waiting.id]);
    expect(await deliveryById(waiting.id)).toMatchObject({ status: "pending", attempt_count: 0 });
    expect(far.requests).toHaveLength(0);

    await runJob(driven.env, { t: "job", job: "release", destination_id: dest.id });
    await deliver(driven.env, [due[0]!]);
    // Finishing the earlier event sends the waiting one on.
    expect(driven.sent.some((m) => (m.body as { delivery_id?: string }).delivery_id === waiting.id)).toBe(true);
    await deliver(driven.env, [waiting.id]);
    expect(far.requests.map((r) => r.headers["webhook-id"])).toEqual([events[0], later]);
  });
});

describe("operator actions and the lease", () => {
  async function delivered() {
    const far = crm();
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: far.url() });
    const eventId = await sendCallback(tenant);
    const d = await waitUntil(async () => {
      const row = await deliveryOf(eventId, dest.id);
      return row?.status === "delivered" && row;
    });
    return { far, eventId, dest, d };
  }

  it("retry of a delivered delivery answers 409", async () => {
    const { d } = await delivered();
    const res = await admin("POST", `/v1/admin/deliveries/${d.id}/retry`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("conflict");
  });

  it("retry and replay of a delivery whose attempt is in flight answer 409 and leave the attempt alone", async () => {
    const { d, eventId, dest } = await delivered();
    const lease = { owner: "an-attempt-in-flight", until: Date.now() + 60_000 };
    // Its first attempt was delivered inline (no row): made a failed row with a retry in flight, in its event's shard.
    const { shard } = (await findEvent(env, eventId))!;
    await shard.db
      .prepare(
        `INSERT INTO deliveries (id, event_id, destination_id, tenant_id, status, attempt_count, schedule_step, lease_owner, lease_until, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'failed', 1, ?5, ?6, ?7, ?8, ?8)`,
      )
      .bind(d.id, eventId, dest.id, d.tenant_id, d.schedule_step, lease.owner, lease.until, Date.now())
      .run();

    expect((await admin("POST", `/v1/admin/deliveries/${d.id}/retry`)).status).toBe(409);
    expect((await admin("POST", `/v1/admin/events/${eventId}/replay`, {})).status).toBe(409);
    expect(await deliveryById(d.id)).toMatchObject({ status: "failed", lease_owner: lease.owner, lease_until: lease.until, schedule_step: d.schedule_step });
  });

  it.each([
    ["null", "null"],
    ["an array", "[]"],
    ["a number", "7"],
    ["a wrong-typed destination_id", '{"destination_id":5}'],
    ["an unreadable body", "{"],
  ])("replay with %s as its body answers 400", async (_what, body) => {
    const { eventId } = await delivered();
    const res = await call(`/v1/admin/events/${eventId}/replay`, { method: "POST", headers: { ...ADMIN, "content-type": "application/json" }, body });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toMatch(/^invalid_(json|request)$/);
  });
});

describe("operator work in bounded chunks", () => {
  it("recover over more than one chunk does a chunk at a time and hands the rest on as a job message until done", async () => {
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: "https://crm.example.com/hook" });
    const n = CHUNK + 7;
    const now = Date.now();
    const rows = Array.from({ length: n }, (_, i) => ({ id: `dlv_bulk${i.toString().padStart(5, "0")}_${dest.id.slice(4)}`, at: now - 60_000 + i }));
    for (let i = 0; i < rows.length; i += 50) {
      await everyDatabase.batch(
        rows.slice(i, i + 50).map((r) =>
          everyDatabase.prepare(
            "INSERT INTO deliveries (id, event_id, destination_id, tenant_id, status, attempt_count, created_at, updated_at) VALUES (?1, 'evt_none', ?2, ?3, 'dead', 8, ?4, ?4)",
          ).bind(r.id, dest.id, tenant.id, r.at),
        ),
      );
    }
    const driven = drivenEnv();
    const first = await runJob(driven.env, { t: "job", job: "recover", destination_id: dest.id, since: now - 120_000 }, 1);
    expect(first).toEqual({ queued: CHUNK, held: 0, continuing: true });
    const job = driven.sent.map((m) => m.body).find((b): b is DeliveryJob => b.t === "job");
    expect(job).toMatchObject({ job: "recover", destination_id: dest.id, after: { id: rows[CHUNK - 1]!.id } });

    const rest = await runJob(driven.env, job!, 1);
    expect(rest).toEqual({ queued: 7, held: 0, continuing: false });
    const pending = await everyDatabase.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE destination_id = ?1 AND status = 'pending'").bind(dest.id).first<{ n: number }>();
    expect(pending!.n).toBe(n);
  });
});

describe("the sweep", () => {
  it("does not hand a lagging queue the same overdue delivery every minute", async () => {
    const driven = drivenEnv();
    const { tenant, dest } = await pausedDestination(() => new Response("ok"));
    const [id] = (await heldEvents(tenant, dest.id, [callEvent(newCallId(), 0)])).due;
    await makeDue(dest.id, [id!]);
    await everyDatabase.prepare("UPDATE deliveries SET next_attempt_at = ?2 WHERE id = ?1").bind(id!, Date.now() - OVERDUE_AFTER_MS - 1000).run();
    const sentFor = () => driven.sent.filter((m) => (m.body as { delivery_id?: string }).delivery_id === id).length;

    const now = Date.now();
    await sweep(driven.env, now);
    expect(sentFor()).toBe(1);
    await sweep(driven.env, now + 60_000);
    expect(sentFor()).toBe(1);
    await sweep(driven.env, now + REQUEUE_AFTER_MS + 1000);
    expect(sentFor()).toBe(2);
  });
});

describe("a rate-limited destination", () => {
  it("is never sent more than rate_limit requests per period, across invocations, and gets everything without a failed attempt", async () => {
    const { far, tenant, dest } = await pausedDestination(() => new Response("ok"), { rate_limit: 4, rate_limit_period: "second" });
    expect(dest).toMatchObject({ rate_limit: 4, rate_limit_period: "second" });
    const { events, due } = await heldEvents(tenant, dest.id, Array.from({ length: 12 }, () => callEvent(newCallId(), 0)));
    await makeDue(dest.id, due);
    const driven = drivenEnv();

    await Promise.all([deliver(driven.env, due.slice(0, 6)), deliver(driven.env, due.slice(6))]);
    // A slot taken more than the spacing guard late is skipped, not used (it
    // could put rate_limit + 1 sends in one period): on a loaded machine a
    // delivery may be handed back for the next free slot. Play the queue for it.
    for (let round = 0; round < 5; round++) {
      const waiting = (await Promise.all(due.map(deliveryById))).filter((d) => d!.status === "pending");
      if (waiting.length === 0) break;
      expect(waiting.every((d) => d!.attempt_count === 0 && d!.lease_owner === null)).toBe(true);
      await new Promise((r) => setTimeout(r, Math.max(0, Math.max(...waiting.map((d) => d!.next_attempt_at!)) - Date.now())));
      await deliver(driven.env, waiting.map((d) => d!.id));
    }
    const times = far.requests.map((r) => r.at).sort((a, b) => a - b);
    expect(far.requests.map((r) => r.headers["webhook-id"]).sort()).toEqual(events.slice().sort());
    for (let i = 0; i + 4 < times.length; i++) expect(times[i + 4]! - times[i]!).toBeGreaterThanOrEqual(1000);
    for (const id of due) {
      expect(await deliveryById(id)).toMatchObject({ status: "delivered", attempt_count: 1 });
      expect(await attempts(id)).toHaveLength(1);
    }
  });

  it("defers what its reserved slots cannot cover, unattempted, to when its next slot is free", async () => {
    const { far, tenant, dest } = await pausedDestination(() => new Response("ok"), { rate_limit: 1, rate_limit_period: "minute" });
    const { due } = await heldEvents(tenant, dest.id, [callEvent(newCallId(), 0), callEvent(newCallId(), 0)]);
    await makeDue(dest.id, due);
    const driven = drivenEnv();
    await deliver(driven.env, due);
    expect(far.requests).toHaveLength(1);
    const rows = await Promise.all(due.map(deliveryById));
    const waiting = rows.find((r) => r!.status === "pending")!;
    expect(waiting).toMatchObject({ attempt_count: 0, schedule_step: 0, lease_owner: null });
    expect(waiting.next_attempt_at!).toBeGreaterThan(Date.now() + 50_000);
    expect(driven.sent.find((m) => (m.body as { delivery_id?: string }).delivery_id === waiting.id)!.delaySeconds).toBeGreaterThan(50);
  });
});
