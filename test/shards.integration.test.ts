import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { homeShard, shardsOf } from "../src/db/shards";
import type { Env } from "../src/env";
import { admin, createDestination, createTenant, fakeCrm, storeBatch, uniqueId } from "./helpers";

const crms: ReturnType<typeof fakeCrm>[] = [];
afterEach(() => crms.splice(0).forEach((c) => c.restore()));

const callEvent = (callid: string, n: number) => JSON.stringify({ callid, transfer_status: "2", step: n, caller_number: "0812345678" });

/** Which shard holds this event, by asking each one directly. */
async function shardHolding(eventId: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of ["DB", "EVENTS_0", "EVENTS_1"] as const) {
    if (await env[name].prepare("SELECT 1 FROM events WHERE id = ?1").bind(eventId).first()) found.push(name);
  }
  return found;
}

describe("event shards", () => {
  it("spreads a tenant's events over both shards, keeps the control database free of them, and lists them merged, paged with the same cursors", async () => {
    const tenant = await createTenant();
    const ids = await storeBatch(env, tenant.id, Array.from({ length: 24 }, (_, i) => callEvent(uniqueId("call"), i)));
    const where = await Promise.all(ids.map(shardHolding));
    expect(where.every((w) => w.length === 1)).toBe(true);
    const counts = { EVENTS_0: where.filter((w) => w[0] === "EVENTS_0").length, EVENTS_1: where.filter((w) => w[0] === "EVENTS_1").length };
    expect(counts.EVENTS_0).toBeGreaterThan(0);
    expect(counts.EVENTS_1).toBeGreaterThan(0);

    const listed: { id: string; received_at: string }[] = [];
    for (let cursor: string | null = null, pages = 0; pages < 10; pages++) {
      const page: { body: { data: { id: string; received_at: string }[]; next_cursor: string | null } } = await admin(
        "GET",
        `/v1/admin/events?tenant=${tenant.id}&limit=5${cursor ? `&cursor=${cursor}` : ""}`,
      );
      listed.push(...page.body.data);
      cursor = page.body.next_cursor;
      if (!cursor) break;
    }
    expect(listed.map((e) => e.id).sort()).toEqual([...ids].sort());
    const order = listed.map((e) => Date.parse(e.received_at));
    expect(order).toEqual([...order].sort((a, b) => b - a));
  });

  it("keeps a call's events in one shard, numbered in order", async () => {
    const tenant = await createTenant();
    const callid = uniqueId("call");
    const ids = await storeBatch(env, tenant.id, [0, 1, 2, 3].map((n) => callEvent(callid, n)));
    const where = (await Promise.all(ids.map(shardHolding))).flat();
    expect(new Set(where).size).toBe(1);
    const { body } = await admin("GET", `/v1/admin/events?callid=${callid}`);
    expect(body.data.map((e: { seq: number }) => e.seq).sort()).toEqual([1, 2, 3, 4]);
  });

  it("keeps a call that is under way in the shard where it started after a shard is added, so nothing moves", async () => {
    const tenant = await createTenant();
    // A callid whose home, with both shards, is EVENTS_0 ...
    let callid = uniqueId("call");
    while (homeShard(env, tenant.id, callid, "evt_x").name !== "EVENTS_0") callid = uniqueId("call");
    // ... started while EVENTS_1 was the only shard.
    const before = { ...env, EVENT_SHARDS: "EVENTS_1" } as Env;
    const [first] = await storeBatch(before, tenant.id, [callEvent(callid, 0)]);
    expect(await shardHolding(first!)).toEqual(["EVENTS_1"]);

    const [second] = await storeBatch(env, tenant.id, [callEvent(callid, 1)]);
    expect(await shardHolding(second!)).toEqual(["EVENTS_1"]);
    const { body } = await admin("GET", `/v1/admin/events/${second}`);
    expect(body.seq).toBe(2);
  });

  it("finds an event, its deliveries and their attempts in whichever shard holds it, and retries a delivery there", async () => {
    const crm = fakeCrm(() => new Response("no", { status: 500 }));
    crms.push(crm);
    const tenant = await createTenant();
    const dest = await createDestination(tenant.id, { url: crm.url("/hook") });
    const ids = await storeBatch(env, tenant.id, Array.from({ length: 8 }, (_, i) => callEvent(uniqueId("call"), i)));
    const holders = await Promise.all(ids.map(shardHolding));
    const eventId = ids[holders.findIndex((h) => h[0] === "EVENTS_1")]!;

    const detail = await admin("GET", `/v1/admin/events/${eventId}`);
    expect(detail.status).toBe(200);
    expect(detail.body.deliveries).toHaveLength(1);
    const delivery = detail.body.deliveries[0];
    expect(delivery).toMatchObject({ destination_id: dest.id, status: "failed", attempt_count: 1 });
    expect(delivery.attempts).toEqual([expect.objectContaining({ status_code: 500 })]);

    const listed = await admin("GET", `/v1/admin/deliveries?destination=${dest.id}&limit=500`);
    expect(listed.body.data.map((d: { event_id: string }) => d.event_id).sort()).toEqual([...ids].sort());

    await env.EVENTS_1.prepare("UPDATE deliveries SET status = 'dead', next_attempt_at = NULL WHERE id = ?1").bind(delivery.id).run();
    const retried = await admin("POST", `/v1/admin/deliveries/${delivery.id}/retry`);
    expect(retried).toMatchObject({ status: 202, body: { queued: 1 } });
    expect(await env.EVENTS_1.prepare("SELECT status FROM deliveries WHERE id = ?1").bind(delivery.id).first("status")).toBe("pending");
  });

  it("counts every shard's events in the hourly stats", async () => {
    const tenant = await createTenant();
    await storeBatch(env, tenant.id, Array.from({ length: 10 }, (_, i) => callEvent(uniqueId("call"), i)));
    const { body } = await admin("GET", `/v1/admin/stats?tenant=${tenant.id}`);
    expect(body.data.reduce((n: number, h: { received: number }) => n + h.received, 0)).toBe(10);
  });

  it("says which name in EVENT_SHARDS is not a D1 binding", () => {
    expect(() => shardsOf({ ...env, EVENT_SHARDS: "EVENTS_0,EVENTS_9" } as Env)).toThrow(
      "EVENT_SHARDS names EVENTS_9, which is not a D1 binding of this Worker",
    );
  });
});
