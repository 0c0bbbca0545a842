import { describe, expect, it } from "vitest";
import { admin, cleanedUpAfterEach, createTenant, postCallback, uniqueId, waitUntil } from "./helpers";
import { everyDatabase } from "./every-database";

/*
 * A JSON object may repeat a key. Every reader in the chain (our validation,
 * the stored columns, and a CRM reading the forwarded body with JSON.parse or
 * most other parsers) takes the last one, so the relay does too: it judges
 * the callback by the value the receiver will see.
 */
const { crm, destination } = cleanedUpAfterEach();

describe("a callback whose identity field is repeated", () => {
  it("is accepted when the last callid is valid, stored and forwarded with that callid", async () => {
    const far = crm();
    const tenant = await createTenant();
    await destination(tenant, { url: far.url() });
    const callid = uniqueId("dup");
    const body = `{"callid":"","callid":"${callid}","transfer_status":"2"}`;

    const res = await postCallback(tenant.id, "inbound-transfer", body, tenant.token);
    expect(res.status).toBe(200);
    const { event_id } = (await res.json()) as { event_id: string };

    const got = await waitUntil(async () => far.requests[0]);
    expect(got.body).toContain(`"data":${body}`);
    expect((JSON.parse(got.body) as { data: { callid: string } }).data.callid).toBe(callid);
    const event = await admin("GET", `/v1/admin/events/${event_id}`);
    expect(event.body.callid).toBe(callid);
    expect((await admin("GET", `/v1/admin/events?tenant=${tenant.id}&callid=${callid}`)).body.data).toHaveLength(1);
  });

  it("is refused with 422 when the last callid is empty, even though the first is valid, and kept in quarantine", async () => {
    const tenant = await createTenant();
    const body = `{"callid":"${uniqueId("dup")}","callid":"","transfer_status":"2"}`;
    const res = await postCallback(tenant.id, "inbound-transfer", body, tenant.token);
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: { issues: unknown[] } }).error.issues).toEqual([{ path: "callid", message: "must not be empty" }]);
    const kept = await everyDatabase.prepare("SELECT body FROM quarantine WHERE tenant_id = ?1").bind(tenant.id).first<{ body: string }>();
    expect(kept?.body).toBe(body);
  });

  it("is typed by the last value of a repeated marker when the kind is any", async () => {
    const tenant = await createTenant();
    const body = `{"callid":"${uniqueId("dup")}","transfer_status":"2","transfer_status":""}`;
    const res = await postCallback(tenant.id, "any", body, tenant.token);
    expect(res.status).toBe(200);
    const { event_id } = (await res.json()) as { event_id: string };
    const event = await waitUntil(async () => {
      const r = await admin("GET", `/v1/admin/events/${event_id}`);
      return r.status === 200 && r.body;
    });
    expect(event.type).toBe("airudder.inbound.call_end");
  });
});
