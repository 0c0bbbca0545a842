import { z } from "@hono/zod-openapi";
import { config, type Env } from "../env";
import { postOnce } from "./post";
import { signatureHeader } from "./sign";

/** The `data` of each operational event (CONTRACT §6): typed for the senders, and documented in `/openapi.json`'s webhooks. */
export const alertData = {
  "relay.destination.disabled": z
    .object({
      destination_id: z.string(),
      tenant: z.string(),
      reason: z.string().openapi({ description: "`410 Gone`, or `failing continuously`" }),
    })
    .openapi("DestinationDisabledAlertData", { description: "A destination was paused; it collects deliveries as `held` until enabled again." }),
  "relay.delivery.dead": z
    .object({
      delivery_id: z.string(),
      event_id: z.string(),
      destination_id: z.string(),
      last_status_code: z.number().int().nullable(),
      error: z.string().nullable().openapi({ description: "what the last attempt came to, when it got no HTTP answer" }),
    })
    .openapi("DeliveryDeadAlertData", { description: "A delivery exhausted its retry schedule (or could not be recorded); retry it with `POST /v1/admin/deliveries/{id}/retry`." }),
  "relay.storage.unavailable": z
    .object({
      since: z.string().openapi({ description: "ISO 8601: when D1 began refusing writes" }),
      kept_in_r2: z.number().int().openapi({ description: "callback batches waiting in R2 (counted up to 1,000)" }),
    })
    .openapi("StorageUnavailableAlertData", { description: "D1 has refused writes for about a minute; callbacks are still taken and kept in R2." }),
  "relay.storage.recovered": z
    .object({
      since: z.string().openapi({ description: "ISO 8601: when the outage began" }),
      handed_back: z.number().int().openapi({ description: "callbacks handed back from R2 to the callbacks queue since D1 took writes again" }),
    })
    .openapi("StorageRecoveredAlertData", { description: "D1 takes writes again and everything kept in R2 was handed back." }),
  "relay.storage.nearly_full": z
    .object({ database: z.string(), size_bytes: z.number().int(), limit_bytes: z.number().int() })
    .openapi("StorageNearlyFullAlertData", { description: "A write left the database past 80 % of its size limit (sent at most once a day)." }),
};

export type AlertType = keyof typeof alertData;

/**
 * Operational events for the operator's own endpoint. Best effort: one
 * attempt, never retried, because the state it reports stays visible in the
 * admin API (`disabled_reason`, deliveries with `status=dead`).
 */
export async function sendAlert<T extends AlertType>(env: Env, type: T, data: z.input<(typeof alertData)[T]>): Promise<void> {
  const cfg = config(env);
  if (!cfg.ALERT_WEBHOOK_URL) return;
  const id = "alr_" + crypto.randomUUID().replace(/-/g, "");
  const now = Date.now();
  const at = new Date(now).toISOString();
  // The outbound envelope (CONTRACT §4, §6): `tenant` is null for the relay's own state.
  const tenant = "tenant" in data ? data.tenant : null;
  const body = JSON.stringify({ id, type, tenant, received_at: at, created_at: at, data });
  const timestamp = Math.floor(now / 1000);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
  };
  if (env.ALERT_WEBHOOK_SECRET) {
    headers["webhook-signature"] = await signatureHeader([env.ALERT_WEBHOOK_SECRET], id, timestamp, body);
  }
  const result = await postOnce(cfg.ALERT_WEBHOOK_URL, headers, body, cfg.DELIVERY_TIMEOUT_MS);
  if (result.statusCode === null || result.statusCode >= 300) {
    console.warn(JSON.stringify({ level: "warn", msg: "alert not delivered", type, status: result.statusCode, error: result.error }));
  }
}
