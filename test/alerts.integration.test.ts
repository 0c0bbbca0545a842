import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import type { Env } from "../src/env";
import worker from "../src/index";
import type { DeliveryMessage } from "../src/queue-messages";
import { admin, cleanedUpAfterEach, createTenant, deliveryOf, sendCallback, waitUntil, type CrmHandler } from "./helpers";
import { everyDatabase } from "./every-database";

const { crm, destination } = cleanedUpAfterEach();
const ALERT_SECRET = "whsec_" + btoa("alert-secret-alert-secret");

/** A delivery to a CRM answering `handler`, due now, one failure away from the end of its schedule. */
async function lastChance(handler: CrmHandler) {
  const far = crm(handler);
  const tenant = await createTenant();
  const dest = await destination(tenant, { url: far.url(), enabled: false });
  const eventId = await sendCallback(tenant);
  const held = await waitUntil(async () => (await deliveryOf(eventId, dest.id)) ?? undefined);
  await everyDatabase.batch([
    everyDatabase.prepare("UPDATE destinations SET enabled = 1, disabled_reason = NULL WHERE id = ?1").bind(dest.id),
    everyDatabase.prepare("UPDATE deliveries SET status = 'pending', schedule_step = 7, next_attempt_at = ?2 WHERE id = ?1").bind(held.id, Date.now()),
  ]);
  return { dest, eventId, deliveryId: held.id };
}

async function runWithAlerts(deliveryId: string) {
  const alerts = crm();
  const alerting = {
    ...env,
    ALERT_WEBHOOK_URL: alerts.url("/ops"),
    ALERT_WEBHOOK_SECRET: ALERT_SECRET,
    DISABLE_AFTER_DEAD_DELIVERIES: "1",
  } as Env;
  const batch = createMessageBatch<DeliveryMessage>("airudder-relay-deliveries", [
    { id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body: { t: "delivery", delivery_id: deliveryId } },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch, alerting, ctx);
  await getQueueResult(batch, ctx);
  return alerts.requests.map((r) => new Webhook(ALERT_SECRET).verify(r.body, r.headers) as { type: string; data: Record<string, unknown> });
}

describe("operational alerts", () => {
  it("a delivery that dies sends relay.delivery.dead, and past the dead-in-a-row limit the destination is paused and says so", async () => {
    const { dest, eventId, deliveryId } = await lastChance(() => new Response("down", { status: 500 }));
    const alerts = await runWithAlerts(deliveryId);

    expect(await deliveryOf(eventId, dest.id)).toMatchObject({ status: "dead", attempt_count: 1 });
    const dead = alerts.find((a) => a.type === "relay.delivery.dead");
    expect(dead?.data).toMatchObject({ delivery_id: deliveryId, event_id: eventId, destination_id: dest.id, last_status_code: 500 });
    const disabled = alerts.find((a) => a.type === "relay.destination.disabled");
    expect(disabled?.data).toMatchObject({ destination_id: dest.id, reason: "failing continuously" });
    const shown = await admin("GET", `/v1/admin/destinations/${dest.id}`);
    expect(shown.body).toMatchObject({ enabled: false });
    expect(shown.body.disabled_reason).toContain("dead deliveries in a row");
  });

  it("a 410 pauses the destination, holds the delivery and sends relay.destination.disabled", async () => {
    const { dest, eventId, deliveryId } = await lastChance(() => new Response("gone", { status: 410 }));
    const alerts = await runWithAlerts(deliveryId);

    expect(await deliveryOf(eventId, dest.id)).toMatchObject({ status: "held" });
    expect(alerts.map((a) => a.type)).toEqual(["relay.destination.disabled"]);
    expect(alerts[0]!.data).toMatchObject({ destination_id: dest.id, reason: "410 Gone" });
  });

  it("a success sends no alert", async () => {
    const { dest, eventId, deliveryId } = await lastChance(() => new Response("ok"));
    expect(await runWithAlerts(deliveryId)).toEqual([]);
    expect(await deliveryOf(eventId, dest.id)).toMatchObject({ status: "delivered" });
  });
});
