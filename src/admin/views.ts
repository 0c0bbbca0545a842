import { z } from "@hono/zod-openapi";
import { eventColumnsSchema } from "../callbacks/columns";
import { eventTypes } from "../callbacks/families";
import type { AttemptRow } from "../db/attempts";
import type { DeliveryRow } from "../db/deliveries";
import type { DestinationRow } from "../db/destinations";
import type { EventRow } from "../db/events";
import type { QuarantineRow } from "../db/quarantine";
import { iso } from "./pagination";

export const errorSchema = z
  .object({
    ok: z.literal(false),
    error: z.object({
      code: z.string(),
      message: z.string(),
      request_id: z.string(),
      issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .openapi("Error");

export const tenantSchema = z
  .object({ id: z.string(), name: z.string(), created_at: z.string() })
  .openapi("Tenant");

export const attemptSchema = z
  .object({
    at: z.string(),
    status_code: z.number().int().nullable(),
    duration_ms: z.number().int(),
    error: z.string().nullable(),
    response_body: z.string().nullable().openapi({ description: "first 4 KiB of the destination's answer" }),
  })
  .openapi("Attempt");

export const deliveryStatus = z.enum(["pending", "delivered", "failed", "dead", "held"]);

export const deliverySchema = z
  .object({
    id: z.string(),
    event_id: z.string(),
    destination_id: z.string(),
    status: deliveryStatus,
    attempt_count: z.number().int(),
    last_status_code: z.number().int().nullable(),
    next_attempt_at: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
    attempts: z.array(attemptSchema).optional(),
  })
  .openapi("Delivery");

export const destinationSchema = z
  .object({
    id: z.string(),
    tenant_id: z.string(),
    url: z.string(),
    event_types: z.array(z.enum(eventTypes)).nullable(),
    filter: z.unknown().nullable(),
    format: z.enum(["envelope", "raw"]),
    header_names: z.array(z.string()).openapi({ description: "names only: values are secret" }),
    enabled: z.boolean(),
    disabled_reason: z.string().nullable(),
    rate_limit: z.number().int().nullable(),
    rate_limit_period: z.enum(["second", "minute", "hour"]).nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Destination");

export const eventSummarySchema = z
  .object({
    id: z.string(),
    tenant: z.string(),
    kind: z.string(),
    type: z.string(),
    received_at: z.string(),
    payload_state: z.enum(["kept", "purged", "erased"]),
    ...eventColumnsSchema.shape,
    seq: z.number().int().nullable(),
  })
  .openapi("EventSummary");

export const eventDetailSchema = eventSummarySchema
  .extend({ payload: z.unknown().nullable(), deliveries: z.array(deliverySchema) })
  .openapi("EventDetail");

export const quarantineSchema = z
  .object({
    id: z.string(),
    tenant: z.string(),
    kind: z.string(),
    received_at: z.string(),
    last_received_at: z.string(),
    times_received: z.number().int(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })),
    body: z.string().optional().openapi({ description: "the raw body as received (detail only)" }),
    replayed_event_id: z.string().nullable(),
  })
  .openapi("Quarantined");

export const viewTenant = (t: { id: string; name: string; created_at: number }) => ({
  id: t.id,
  name: t.name,
  created_at: iso(t.created_at)!,
});

export const viewAttempt = (a: AttemptRow) => ({
  at: iso(a.at)!,
  status_code: a.status_code,
  duration_ms: a.duration_ms,
  error: a.error,
  response_body: a.response_body,
});

export const viewDelivery = (d: DeliveryRow, attempts?: AttemptRow[]) => ({
  id: d.id,
  event_id: d.event_id,
  destination_id: d.destination_id,
  status: d.status,
  attempt_count: d.attempt_count,
  last_status_code: d.last_status_code,
  next_attempt_at: d.status === "pending" || d.status === "failed" ? iso(d.next_attempt_at) : null,
  created_at: iso(d.created_at)!,
  updated_at: iso(d.updated_at)!,
  ...(attempts ? { attempts: attempts.map(viewAttempt) } : {}),
});

export const viewDestination = (d: DestinationRow, headerNames: string[]) => ({
  id: d.id,
  tenant_id: d.tenant_id,
  url: d.url,
  event_types: d.event_types === null ? null : (JSON.parse(d.event_types) as (typeof eventTypes)[number][]),
  filter: d.filter === null ? null : (JSON.parse(d.filter) as unknown),
  format: d.format,
  header_names: headerNames,
  enabled: d.enabled === 1,
  disabled_reason: d.disabled_reason,
  rate_limit: d.rate_limit,
  rate_limit_period: d.rate_limit_period,
  created_at: iso(d.created_at)!,
  updated_at: iso(d.updated_at)!,
});

export const viewEventSummary = (e: Omit<EventRow, "payload">) => ({
  id: e.id,
  tenant: e.tenant_id,
  kind: e.kind,
  type: e.type,
  received_at: iso(e.received_at)!,
  payload_state: e.payload_state,
  callid: e.callid,
  task_id: e.task_id,
  state: e.state,
  agent: e.agent,
  phone_masked: e.phone_masked,
  call_time: e.call_time,
  seq: e.seq,
});

export const viewQuarantine = (q: QuarantineRow, withBody: boolean) => ({
  id: q.id,
  tenant: q.tenant_id,
  kind: q.kind,
  received_at: iso(q.received_at)!,
  last_received_at: iso(q.last_received_at)!,
  times_received: q.times_received,
  issues: JSON.parse(q.issues) as { path: string; message: string }[],
  ...(withBody ? { body: q.body } : {}),
  replayed_event_id: q.replayed_event_id,
});
