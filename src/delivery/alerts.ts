import { config, type Env } from "../env";
import { postOnce } from "./post";
import { signatureHeader } from "./sign";

export type AlertType =
  | "relay.destination.disabled"
  | "relay.delivery.dead"
  | "relay.storage.unavailable"
  | "relay.storage.recovered"
  | "relay.storage.nearly_full";

/**
 * Operational events for the operator's own endpoint. Best effort: one
 * attempt, never retried, because the state it reports stays visible in the
 * admin API (`disabled_reason`, deliveries with `status=dead`).
 */
export async function sendAlert(env: Env, type: AlertType, data: Record<string, unknown>): Promise<void> {
  const cfg = config(env);
  if (!cfg.ALERT_WEBHOOK_URL) return;
  const id = "alr_" + crypto.randomUUID().replace(/-/g, "");
  const now = Date.now();
  const at = new Date(now).toISOString();
  // The outbound envelope (CONTRACT §4, §6): `tenant` is null for the relay's own state.
  const tenant = typeof data.tenant === "string" ? data.tenant : null;
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
