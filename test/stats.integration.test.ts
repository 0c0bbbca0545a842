import { afterEach, describe, expect, it } from "vitest";
import { admin, createDestination, createTenant, fakeCrm, freshCallback, postCallback, waitUntil } from "./helpers";

const crms: ReturnType<typeof fakeCrm>[] = [];
afterEach(() => crms.splice(0).forEach((c) => c.restore()));

describe("GET /v1/admin/stats", () => {
  it("counts a tenant's events received and deliveries delivered and failed, per hour", async () => {
    const ok = fakeCrm();
    const down = fakeCrm(() => new Response("down", { status: 500 }));
    crms.push(ok, down);
    const tenant = await createTenant();
    const other = await createTenant();
    await createDestination(tenant.id, { url: ok.url() });
    await createDestination(tenant.id, { url: down.url() });
    for (let i = 0; i < 3; i++) expect((await postCallback(tenant.id, "inbound-transfer", freshCallback(), tenant.token)).status).toBe(200);
    expect((await postCallback(other.id, "inbound-transfer", freshCallback(), other.token)).status).toBe(200);

    const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString();
    const stats = await waitUntil(async () => {
      const res = await admin("GET", `/v1/admin/stats?tenant=${tenant.id}`);
      const row = res.body.data.find((r: { hour: string }) => r.hour === hour);
      return row?.delivered === 3 && row?.failed === 3 && res.body;
    });
    expect(stats.data).toEqual([{ hour, received: 3, delivered: 3, failed: 3, dead: 0 }]);

    const past = await admin("GET", `/v1/admin/stats?tenant=${tenant.id}&until=${Date.now() - 7_200_000}`);
    expect(past.body.data).toEqual([]);
  });
});
