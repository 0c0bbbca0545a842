import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import type { Env } from "../src/env";
import worker from "../src/index";
import { admin, callbackMessage, createDestination, createTenant, fakeCrm, freshCallback, postCallback, refusingBatches, uniqueId, waitUntil } from "./helpers";

const crms: ReturnType<typeof fakeCrm>[] = [];
afterEach(() => crms.splice(0).forEach((c) => c.restore()));

describe("GET /v1/admin/stats", () => {
  it("counts a tenant's events received and attempts delivered and failed per hour, first attempts and operator retries apart, a failure later delivered still counted", async () => {
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
    const none = { delivered: 0, failed: 0, dead: 0 };
    expect(stats.data).toEqual([
      { hour, received: 3, delivered: 3, failed: 3, dead: 0, by_trigger: { first: { delivered: 3, failed: 3, dead: 0 }, retry: none, operator: none } },
    ]);

    // The CRM recovers and an operator retries one failure: both attempts stay counted, apart.
    down.answer(() => new Response("ok"));
    const failed = await admin("GET", `/v1/admin/deliveries?tenant=${tenant.id}&status=failed`);
    expect(failed.body.data).toHaveLength(3);
    expect((await admin("POST", `/v1/admin/deliveries/${failed.body.data[0].id}/retry`)).status).toBe(202);
    const after = await waitUntil(async () => {
      const res = await admin("GET", `/v1/admin/stats?tenant=${tenant.id}`);
      const row = res.body.data.find((r: { hour: string }) => r.hour === hour);
      return row?.delivered === 4 && row;
    });
    expect(after).toMatchObject({ delivered: 4, failed: 3, by_trigger: { first: { delivered: 3, failed: 3 }, operator: { delivered: 1, failed: 0 } } });

    const past = await admin("GET", `/v1/admin/stats?tenant=${tenant.id}&until=${Date.now() - 7_200_000}`);
    expect(past.body.data).toEqual([]);
  });

  it("counts an attempt whose destination's health the control database refused to record: the count goes with the attempt", async () => {
    const ok = fakeCrm();
    crms.push(ok);
    const tenant = await createTenant();
    await createDestination(tenant.id, { url: ok.url() });
    const message = await callbackMessage(tenant.id, freshCallback());
    const controlRefusing = { ...env, DB: refusingBatches(env.DB, "UPDATE destinations SET consecutive_failures") } as Env;

    const batch = createMessageBatch("airudder-relay-callbacks", [{ id: uniqueId("msg"), timestamp: new Date(), attempts: 1, body: message }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, controlRefusing, ctx);
    // The control database's refusal fails the batch (it is retried); the attempt was made and recorded in its shard.
    expect((await getQueueResult(batch, ctx)).retryMessages).toHaveLength(1);
    expect(ok.requests).toHaveLength(1);

    const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString();
    const stats = await admin("GET", `/v1/admin/stats?tenant=${tenant.id}`);
    expect(stats.body.data).toEqual([
      expect.objectContaining({ hour, received: 1, delivered: 1, failed: 0, by_trigger: expect.objectContaining({ first: { delivered: 1, failed: 0, dead: 0 } }) }),
    ]);
  });
});
