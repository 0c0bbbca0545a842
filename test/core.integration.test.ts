import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it } from "vitest";
import sample from "./fixtures/inbound-transfer.sample.json?raw";
import { admin, createDestination, createTenant, deliveriesOfEvent, fakeCrm, postCallback, waitUntil } from "./helpers";

const crms: ReturnType<typeof fakeCrm>[] = [];
afterEach(() => crms.splice(0).forEach((c) => c.restore()));

describe("an AiRudder callback, end to end", () => {
  it("stores the doc's sample once and delivers one signed envelope per destination", async () => {
    const crm = fakeCrm();
    crms.push(crm);
    const tenant = await createTenant();
    const wanted = await createDestination(tenant.id, { url: crm.url("/all") });
    await createDestination(tenant.id, { url: crm.url("/qa-only"), event_types: ["airudder.qa.report"] });

    const first = await postCallback(tenant.id, "inbound-transfer", sample, tenant.token);
    expect(first.status).toBe(200);
    const receipt = (await first.json()) as { ok: boolean; event_id: string };
    expect(receipt.ok).toBe(true);
    expect(receipt.event_id).toMatch(/^evt_[0-9a-f]{32}$/);

    const delivered = await waitUntil(async () => crm.requests.length === 1 && crm.requests[0]);
    expect(delivered.url).toBe(crm.url("/all"));
    const verified = new Webhook(wanted.secret).verify(delivered.body, delivered.headers) as Record<string, unknown>;
    expect(verified).toMatchObject({ id: receipt.event_id, type: "airudder.inbound.transfer", tenant: tenant.id });
    expect(verified.data).toEqual(JSON.parse(sample));
    expect(delivered.headers["webhook-id"]).toBe(receipt.event_id);
    expect(delivered.body).toContain("\\u0e2a\\u0e27\\u0e31\\u0e2a\\u0e14\\u0e35");

    // AiRudder's retry: byte-identical body, same id, nothing new stored or sent.
    const again = await postCallback(tenant.id, "inbound-transfer", sample, tenant.token);
    expect(await again.json()).toEqual({ ok: true, event_id: receipt.event_id });
    const found = await waitUntil(async () => {
      const r = await admin("GET", `/v1/admin/events?callid=888d4df71e7744d7bd03080aea48ea9d&tenant=${tenant.id}`);
      return r.body.data.length === 1 && r.body;
    });
    expect(found.data[0].id).toBe(receipt.event_id);
    await new Promise((r) => setTimeout(r, 1500));
    expect(crm.requests).toHaveLength(1);
    expect(await deliveriesOfEvent(receipt.event_id)).toHaveLength(1);

    const detail = await admin("GET", `/v1/admin/events/${receipt.event_id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.deliveries).toHaveLength(1);
    expect(detail.body.deliveries[0]).toMatchObject({ destination_id: wanted.id, status: "delivered", attempt_count: 1, last_status_code: 200 });
    expect(detail.body.deliveries[0].attempts).toHaveLength(1);
    expect(detail.body.deliveries[0].attempts[0]).toMatchObject({ status_code: 200, error: null });
  });
});
