import { z, type OpenAPIHono } from "@hono/zod-openapi";
import type { eventTypes } from "../callbacks/families";
import { inboundCallEndSchema, inboundTransferSchema } from "../callbacks/inbound";
import { jsonObject } from "../callbacks/lenient";
import { pdsAgentStatusSchema, pdsContactStatusSchema, pdsTaskStatusSchema, pdsUnknownSchema } from "../callbacks/pds";
import { qaReportSchema } from "../callbacks/qa";
import { workflowSchema } from "../callbacks/workflow";
import { alertData, type AlertType } from "./alerts";

/** What `data` holds for each event type a CRM receives; `satisfies` keeps it in step with `eventTypes`. */
const dataByType = {
  "airudder.inbound.transfer": { name: "InboundTransferEvent", data: inboundTransferSchema },
  "airudder.inbound.call_end": { name: "InboundCallEndEvent", data: inboundCallEndSchema },
  "airudder.pds.agent_status": { name: "PdsAgentStatusEvent", data: pdsAgentStatusSchema },
  "airudder.pds.contact_status": { name: "PdsContactStatusEvent", data: pdsContactStatusSchema },
  "airudder.pds.task_status": { name: "PdsTaskStatusEvent", data: pdsTaskStatusSchema },
  "airudder.pds.unknown": { name: "PdsUnknownEvent", data: pdsUnknownSchema },
  "airudder.qa.report": { name: "QaReportEvent", data: qaReportSchema },
  "airudder.workflow.status": { name: "WorkflowStatusEvent", data: workflowSchema },
  "airudder.generic": { name: "GenericEvent", data: jsonObject.openapi({ description: "any JSON object the `any` kind could not place in a family" }) },
} satisfies Record<(typeof eventTypes)[number], { name: string; data: z.ZodType }>;

const alertNames = {
  "relay.destination.disabled": "DestinationDisabledAlert",
  "relay.delivery.dead": "DeliveryDeadAlert",
  "relay.storage.unavailable": "StorageUnavailableAlert",
  "relay.storage.recovered": "StorageRecoveredAlert",
  "relay.storage.nearly_full": "StorageNearlyFullAlert",
} satisfies Record<AlertType, string>;

const receivedAt = z.string().openapi({ description: "ISO 8601 UTC: when the relay took the callback", example: "2026-12-01T07:00:00.000Z" });

/** The Standard Webhooks headers, the same on every attempt and replay except the timestamp and signature. */
const signatureHeaders = z.object({
  "webhook-id": z.string().openapi({ description: "the event id (`evt_…`, or `alr_…` for an alert): deduplicate on it", example: "evt_3f1c…" }),
  "webhook-timestamp": z.string().openapi({ description: "unix seconds when this attempt was signed", example: "1764572400" }),
  "webhook-signature": z.string().openapi({
    description:
      "`v1,<base64 HMAC-SHA256>` of `<webhook-id>.<webhook-timestamp>.<raw body>`, keyed with the base64-decoded part of the `whsec_…` secret; " +
      "during a secret rotation two signatures, space-separated. Verify with any Standard Webhooks library, over the raw body.",
    example: "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
  }),
});

/** Without `ALERT_WEBHOOK_SECRET`, alerts go unsigned. */
const alertHeaders = signatureHeaders.partial({ "webhook-signature": true });

const answers = {
  "2XX": { description: "delivered" },
  410: { description: "gone: the relay pauses the destination (`disabled_reason`) and alerts `relay.destination.disabled`" },
  429: { description: "retried, after at least `Retry-After` (seconds or an HTTP date; capped at 24 h) when given" },
  503: { description: "retried, after at least `Retry-After` when given" },
  default: { description: "anything else, a timeout or a network error: retried on the schedule, then `dead`" },
};

/**
 * The `webhooks` section of `/openapi.json` (OpenAPI 3.1): every request the
 * relay sends, so that a CRM team can generate its receiver's types from the
 * same schemas the relay validates callbacks with.
 */
export function registerWebhookDocs(registry: OpenAPIHono["openAPIRegistry"]): void {
  for (const [type, { name, data }] of Object.entries(dataByType)) {
    const envelope = z
      .object({
        id: z.string().openapi({ description: "the event id, also the `webhook-id` header", example: "evt_3f1c…" }),
        type: z.literal(type),
        tenant: z.string(),
        received_at: receivedAt,
        seq: z.number().int().min(1).optional().openapi({ description: "1, 2, 3… for the events of one `callid` within a tenant, in the order stored; absent without a `callid`" }),
        data,
      })
      .openapi(name, { description: `${type}: \`data\` is AiRudder's payload exactly as received.` });
    registry.registerWebhook({
      method: "post",
      path: type,
      operationId: `on${name}`,
      tags: ["Outbound events"],
      summary: `${type}, sent to each destination that takes it`,
      description:
        "Sent to every destination of the tenant whose `event_types` include this type (or that has none) and whose `filter` matches. " +
        "A destination with `format: raw` gets `data` alone as the body, with the same headers. Delivery is at least once and not ordered.",
      request: { headers: signatureHeaders, body: { required: true, content: { "application/json": { schema: envelope } } } },
      responses: answers,
    });
  }
  for (const [type, name] of Object.entries(alertNames) as [AlertType, string][]) {
    const alert = z
      .object({
        id: z.string().openapi({ description: "the alert id, also the `webhook-id` header", example: "alr_9b2e…" }),
        type: z.literal(type),
        tenant: z.string().nullable().openapi({ description: "the tenant concerned, or null for the relay's own state" }),
        received_at: z.string().openapi({ description: "ISO 8601 UTC: when the alert was raised" }),
        created_at: z.string().openapi({ description: "the same time as `received_at`" }),
        data: alertData[type],
      })
      .openapi(name, { description: `${type}: an operational event of the relay itself.` });
    registry.registerWebhook({
      method: "post",
      path: type,
      operationId: `on${name}`,
      tags: ["Operational alerts"],
      summary: `${type}, sent to ALERT_WEBHOOK_URL`,
      description:
        "One attempt, never retried (the state it reports stays visible in the admin API). Signed with `ALERT_WEBHOOK_SECRET` when it is set.",
      request: { headers: alertHeaders, body: { required: true, content: { "application/json": { schema: alert } } } },
      responses: { "2XX": { description: "received" }, default: { description: "logged, not retried" } },
    });
  }
}
