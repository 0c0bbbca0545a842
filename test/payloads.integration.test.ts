import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { getEvent } from "../src/db/events";
import type { Env } from "../src/env";
import { startErase } from "../src/maintenance/erase";
import { sweep } from "../src/maintenance/sweep";
import { readPayload, writeBatch } from "../src/storage/payloads";
import { admin, createDestination, createTenant, deliver, deliveryOf, drivenEnv, fakeCrm, storeBatch, storedPayload, uniqueId, waitUntil } from "./helpers";
import { everyDatabase } from "./every-database";

const crms: ReturnType<typeof fakeCrm>[] = [];
afterEach(() => crms.splice(0).forEach((c) => c.restore()));

const thai = (callid: string) =>
  JSON.stringify({ callid, transfer_status: "2", asr_result: ["Robot: สวัสดีค่ะ ยินดีต้อนรับ", "Human: ขอบคุณครับ 🙏😀"], note: "👨‍👩‍👧 \u00e9" });

/** An R2 binding that counts the puts it passes on. */
function countingStore(store: R2Bucket) {
  const puts: string[] = [];
  const counted = new Proxy(store, {
    get(target, prop) {
      if (prop === "put") {
        return (key: string, ...rest: unknown[]) => {
          puts.push(key);
          return (target.put as (...a: unknown[]) => unknown)(key, ...rest);
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store: counted, puts };
}


const refOf = async (eventId: string) => (await getEvent(everyDatabase, eventId))!.payload_ref!;

describe("payloads in R2", () => {
  it("writes one R2 object per consumer batch, not one per event, and keeps the payload out of D1", async () => {
    const tenant = await createTenant();
    const { store, puts } = countingStore(env.STORE);
    const bodies = Array.from({ length: 5 }, () => thai(uniqueId("call")));
    const ids = await storeBatch({ ...env, STORE: store } as Env, tenant.id, bodies);

    expect(puts).toHaveLength(1);
    expect(puts[0]).toMatch(/^payloads\/\d{4}-\d{2}-\d{2}\/\d{15}-[0-9a-f-]{36}\.gz$/);
    for (const [i, id] of ids.entries()) {
      const row = await getEvent(everyDatabase, id);
      expect(row).toMatchObject({ payload: null, payload_state: "kept" });
      expect(row!.payload_ref).toMatch(new RegExp(`^${puts[0]}#\\d+\\+\\d+$`));
      expect(await storedPayload(id)).toBe(bodies[i]);
    }
  });

  it("does not write a callback stored before to R2 again", async () => {
    const tenant = await createTenant();
    const body = thai(uniqueId("call"));
    const [id] = await storeBatch(env, tenant.id, [body]);
    const ref = await refOf(id!);
    const { store, puts } = countingStore(env.STORE);

    await storeBatch({ ...env, STORE: store } as Env, tenant.id, [body]);
    expect(puts).toEqual([]);
    expect(await refOf(id!)).toBe(ref);
  });

  it("reads each body of an object back exactly by its byte range: Thai text, emoji, escapes", async () => {
    const bodies = [thai("a"), JSON.stringify({ s: "🧪".repeat(500), q: '"\\u0000' }), "{}", thai("b")];
    const refs = await writeBatch(env, bodies);
    const keys = new Set(refs.map((r) => r.slice(0, r.lastIndexOf("#"))));
    expect(keys.size).toBe(1);
    const read = await Promise.all(
      refs.map((payload_ref) => readPayload(env, { payload: null, payload_ref, payload_state: "kept", received_at: Date.now() })),
    );
    expect(read).toEqual(bodies);
  });

  it("delivers the exact body from R2 on a retry and on a replay, and shows it in the admin detail", async () => {
    let answer = 500;
    const crm = fakeCrm(() => new Response("", { status: answer }));
    crms.push(crm);
    const tenant = await createTenant();
    const destination = await createDestination(tenant.id, { url: crm.url() });
    const body = thai(uniqueId("call"));
    const { env: driven } = drivenEnv();
    const [eventId] = await storeBatch(driven, tenant.id, [body]);
    const sent = (i: number) => crm.requests[i]!.body;
    expect(sent(0).endsWith(`,"data":${body}}`)).toBe(true);

    const failed = await deliveryOf(eventId!, destination.id);
    expect(failed).toMatchObject({ status: "failed" });
    await everyDatabase.prepare("UPDATE deliveries SET next_attempt_at = ?2 WHERE id = ?1").bind(failed!.id, Date.now()).run();
    answer = 200;
    await deliver(driven, [failed!.id]);
    expect(crm.requests).toHaveLength(2);
    expect(sent(1).endsWith(`,"data":${body}}`)).toBe(true);
    expect(await deliveryOf(eventId!, destination.id)).toMatchObject({ status: "delivered" });

    const detail = await admin("GET", `/v1/admin/events/${eventId}`);
    expect(detail.body).toMatchObject({ payload_state: "kept", payload: JSON.parse(body) });

    expect((await admin("POST", `/v1/admin/events/${eventId}/replay`, {})).status).toBe(202);
    await waitUntil(async () => crm.requests.length === 3);
    expect(sent(2).endsWith(`,"data":${body}}`)).toBe(true);
  });

  it("hands claimed deliveries back unattempted when R2 refuses to read their payloads", async () => {
    const crm = fakeCrm(() => new Response("", { status: 500 }));
    crms.push(crm);
    const tenant = await createTenant();
    const destination = await createDestination(tenant.id, { url: crm.url() });
    const { env: driven, sent } = drivenEnv();
    const [eventId] = await storeBatch(driven, tenant.id, [thai(uniqueId("call"))]);
    const failed = (await deliveryOf(eventId!, destination.id))!;
    await everyDatabase.prepare("UPDATE deliveries SET next_attempt_at = ?2 WHERE id = ?1").bind(failed.id, Date.now()).run();
    const refusing = new Proxy(env.STORE, {
      get(target, prop) {
        if (prop === "get") return () => Promise.reject(new Error("R2 is down"));
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    sent.length = 0;

    await deliver({ ...driven, STORE: refusing } as Env, [failed.id]);
    expect(crm.requests).toHaveLength(1);
    const after = (await deliveryOf(eventId!, destination.id))!;
    expect(after).toMatchObject({ status: "failed", attempt_count: 1, schedule_step: failed.schedule_step, lease_owner: null });
    expect(after.next_attempt_at).toBeGreaterThan(Date.now() + 30_000);
    expect(sent.map((s) => s.body)).toEqual([{ t: "delivery", delivery_id: failed.id }]);
  });

  it("deletes payload objects past RETENTION_DAYS; the event then shows payload null, purged, and cannot be replayed", async () => {
    const tenant = await createTenant();
    const body = thai(uniqueId("call"));
    const [eventId] = await storeBatch(env, tenant.id, [body]);
    const key = (await refOf(eventId!)).split("#")[0]!;

    await sweep(env, Date.now() + 3 * 86_400_000);
    expect(await env.STORE.head(key)).not.toBeNull();

    // Event records are kept longer than payloads here, so that the event still answers.
    await sweep({ ...env, RETENTION_DAYS: "1", METADATA_RETENTION_DAYS: "30" } as Env, Date.now() + 3 * 86_400_000);
    expect(await env.STORE.head(key)).toBeNull();
    const detail = await admin("GET", `/v1/admin/events/${eventId}`);
    expect(detail.body).toMatchObject({ id: eventId, payload: null, payload_state: "purged" });
    expect((await admin("POST", `/v1/admin/events/${eventId}/replay`, {})).status).toBe(409);
  });

  it("with a retention of minutes, deletes the objects written before it within the same day, and keeps the newer ones", async () => {
    const tenant = await createTenant();
    const [eventId] = await storeBatch(env, tenant.id, [thai(uniqueId("call"))]);
    const old = (await refOf(eventId!)).split("#")[0]!;
    const now = Date.now();
    const [newer] = await writeBatch(env, [thai(uniqueId("call"))], now + 150_000);
    const newerKey = newer!.split("#")[0]!;

    // RETENTION_DAYS=0.0015 is 129.6 s: at now + 200 s, what was written before now + 70.4 s is due.
    await sweep({ ...env, RETENTION_DAYS: "0.0015", METADATA_RETENTION_DAYS: "30" } as Env, now + 200_000);
    expect(await env.STORE.head(old)).toBeNull();
    expect(await env.STORE.head(newerKey)).not.toBeNull();
  });

  it("erases a payload by zeroing its bytes in the object; the other events in it still read back exactly", async () => {
    const tenant = await createTenant();
    const phone = "66812345678";
    const bodies = [thai(uniqueId("call")), JSON.stringify({ callid: uniqueId("call"), caller_number: `+${phone}`, n: "ไทย 😀" }), thai(uniqueId("call"))];
    const ids = await storeBatch(env, tenant.id, bodies);
    const refs = await Promise.all(ids.map(refOf));
    const key = refs[1]!.split("#")[0]!;
    expect(refs.every((r) => r.startsWith(key + "#"))).toBe(true);

    const progress = await startErase(env, tenant.id, [phone]);
    expect(progress).toEqual({ event_ids: [ids[1]], complete: true });

    const [, range] = refs[1]!.split("#");
    const [offset, length] = range!.split("+").map(Number);
    const bytes = new Uint8Array(await (await env.STORE.get(key))!.arrayBuffer());
    expect(bytes.subarray(offset!, offset! + length!).every((b) => b === 0)).toBe(true);
    expect(await getEvent(everyDatabase, ids[1]!)).toMatchObject({ payload: null, payload_ref: null, payload_state: "erased" });
    expect(await storedPayload(ids[0]!)).toBe(bodies[0]);
    expect(await storedPayload(ids[2]!)).toBe(bodies[2]);
    expect(await startErase(env, tenant.id, [phone])).toEqual({ event_ids: [], complete: true });
  });

  it("finishes in D1 an erase that zeroed the object but stopped before marking the event", async () => {
    const tenant = await createTenant();
    const phone = "66898765432";
    const bodies = [JSON.stringify({ callid: uniqueId("call"), caller_number: phone }), thai(uniqueId("call"))];
    const ids = await storeBatch(env, tenant.id, bodies);
    const failing = (db: D1Database) =>
      new Proxy(db, {
        get(target, prop) {
          if (prop === "batch") return () => Promise.reject(new Error("D1 went away"));
          const value = Reflect.get(target, prop);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    await expect(startErase({ ...env, EVENTS_0: failing(env.EVENTS_0), EVENTS_1: failing(env.EVENTS_1) } as Env, tenant.id, [phone])).rejects.toThrow("D1 went away");
    expect(await getEvent(everyDatabase, ids[0]!)).toMatchObject({ payload_state: "kept" });

    expect(await startErase(env, tenant.id, [phone])).toEqual({ event_ids: [ids[0]], complete: true });
    expect(await getEvent(everyDatabase, ids[0]!)).toMatchObject({ payload_state: "erased" });
    expect(await storedPayload(ids[1]!)).toBe(bodies[1]);
  });
});
