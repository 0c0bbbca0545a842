import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../src/env";
import worker from "../src/index";
import { sweep } from "../src/maintenance/sweep";
import { ADMIN, admin, cleanedUpAfterEach, createTenant, deliveryOf, sendCallback, waitUntil } from "./helpers";
import { everyDatabase } from "./every-database";

const { crm, destination } = cleanedUpAfterEach();

const count = async (sql: string, ...params: unknown[]) => (await everyDatabase.prepare(sql).bind(...params).first<{ n: number }>())!.n;

describe("retention in fractions of a day", () => {
  it("RETENTION_DAYS=0.0015 is a valid setting: the admin API works (it answered 500)", async () => {
    const tenant = await createTenant();
    const res = await worker.fetch(
      new Request(`https://relay.test/v1/admin/tenants/${tenant.id}/destinations`, {
        method: "POST",
        headers: { ...ADMIN, "content-type": "application/json" },
        body: JSON.stringify({ url: "https://crm.example.com/hook" }),
      }),
      { ...env, RETENTION_DAYS: "0.0015", METADATA_RETENTION_DAYS: "0.0015" } as Env,
      createExecutionContext(),
    );
    expect(res.status).toBe(201);
  });
});

describe("event records past METADATA_RETENTION_DAYS", () => {
  it("are deleted by the sweep with their deliveries and attempts, answer 404, and leave newer events alone", async () => {
    // A failing CRM, so that each event has a delivery row and an attempt row to expire with it.
    const far = crm(() => new Response("down", { status: 500 }));
    const tenant = await createTenant();
    const dest = await destination(tenant, { url: far.url() });
    const [old, recent] = [await sendCallback(tenant), await sendCallback(tenant)];
    const delivered = await Promise.all(
      [old, recent].map((e) => waitUntil(async () => {
        const d = await deliveryOf(e, dest.id);
        return d?.status === "failed" && d;
      })),
    );
    await everyDatabase.prepare("UPDATE events SET received_at = received_at - 2 * 86400000 WHERE id = ?1").bind(old).run();

    await sweep({ ...env, METADATA_RETENTION_DAYS: "1" } as Env);

    expect((await admin("GET", `/v1/admin/events/${old}`)).status).toBe(404);
    expect((await admin("GET", `/v1/admin/deliveries/${delivered[0]!.id}`)).status).toBe(404);
    expect(await count("SELECT COUNT(*) AS n FROM deliveries WHERE id = ?1", delivered[0]!.id)).toBe(0);
    expect(await count("SELECT COUNT(*) AS n FROM attempts WHERE delivery_id = ?1", delivered[0]!.id)).toBe(0);
    expect((await admin("GET", `/v1/admin/events?tenant=${tenant.id}`)).body.data.map((e: { id: string }) => e.id)).toEqual([recent]);
    expect(await count("SELECT COUNT(*) AS n FROM attempts WHERE delivery_id = ?1", delivered[1]!.id)).toBe(1);
  });

  it("reaches every tenant in one sweep, events delivered inline and their derived deliveries included", async () => {
    const far = crm();
    const tenants = await Promise.all([createTenant(), createTenant(), createTenant()]);
    const events: { tenant: string; id: string; delivery: string }[] = [];
    for (const tenant of tenants) {
      const dest = await destination(tenant, { url: far.url() });
      const id = await sendCallback(tenant);
      const d = await waitUntil(async () => {
        const found = await deliveryOf(id, dest.id);
        return found?.status === "delivered" && found;
      });
      events.push({ tenant: tenant.id, id, delivery: d.id });
    }
    for (const e of events) await everyDatabase.prepare("UPDATE events SET received_at = received_at - 2 * 86400000 WHERE id = ?1").bind(e.id).run();

    await sweep({ ...env, METADATA_RETENTION_DAYS: "1" } as Env);

    for (const e of events) {
      expect((await admin("GET", `/v1/admin/events/${e.id}`)).status).toBe(404);
      expect((await admin("GET", `/v1/admin/deliveries/${e.delivery}`)).status).toBe(404);
      expect((await admin("GET", `/v1/admin/deliveries?tenant=${e.tenant}`)).body.data).toEqual([]);
    }
  });
});
