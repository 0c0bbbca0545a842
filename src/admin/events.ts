import { createRoute, z } from "@hono/zod-openapi";
import { eventTypes } from "../callbacks/families";
import { destinationsOfTenants, type DestinationRow } from "../db/destinations";
import type { EventRow } from "../db/events";
import type { Shard } from "../db/shards";
import type { Env } from "../env";
import { destinationWants, filterDocument } from "../delivery/routing";
import { RelayError } from "../http/errors";
import { decodeCursor, listQuery, pageBody, pageSchema, timeParam } from "./pagination";
import { replayEvent } from "../delivery/operator";
import { payloadStateOf } from "../storage/payloads";
import { eventDetail, findEvent, payloadOf, searchEvents } from "../query/events";
import { errors, jsonContent, notFound, router, security } from "./router";
import { errorSchema, eventDetailSchema, eventSummarySchema, viewDelivery, viewEventSummary } from "./views";

const list = createRoute({
  method: "get",
  path: "/v1/admin/events",
  operationId: "listEvents",
  tags: ["Events"],
  summary: "Search stored events, newest first",
  security,
  request: {
    query: z.object({
      ...listQuery,
      tenant: z.string().optional(),
      type: z.enum(eventTypes).optional(),
      callid: z.string().optional(),
      task_id: z.string().optional(),
      state: z.string().optional(),
      agent: z.string().optional(),
      phone_last4: z.string().regex(/^\d{4}$/, "the last 4 digits").optional(),
      since: timeParam,
      until: timeParam,
    }),
  },
  responses: { 200: jsonContent(pageSchema(eventSummarySchema), "stored events, newest first"), ...errors },
});

const get = createRoute({
  method: "get",
  path: "/v1/admin/events/{id}",
  operationId: "getEvent",
  tags: ["Events"],
  summary: "Get an event with its payload, deliveries and attempts",
  security,
  request: { params: z.object({ id: z.string() }) },
  responses: { 200: jsonContent(eventDetailSchema, "the event, its payload, its deliveries and their attempts"), ...errors },
});

/** Why an event has no body to send: erased, or else purged (a kept payload whose object is gone counts as purged). */
const purgedOrErased = (env: Env, event: Parameters<typeof payloadStateOf>[1]) =>
  payloadStateOf(env, event) === "erased" ? "erased" : "purged";

const replayBody = z.strictObject({ destination_id: z.string().optional() }).openapi("ReplayRequest");

/**
 * The replay body is optional, so the router's validation cannot require it;
 * what is sent must still be a JSON object of the schema (`null` included: a 400, not a TypeError).
 */
async function replayRequest(text: string): Promise<z.infer<typeof replayBody>> {
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RelayError("invalid_json", "body is not valid JSON");
  }
  const result = replayBody.safeParse(parsed);
  if (!result.success) {
    throw new RelayError("invalid_request", "request does not match the schema", {
      issues: result.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message })),
    });
  }
  return result.data;
}

const replay = createRoute({
  method: "post",
  path: "/v1/admin/events/{id}/replay",
  operationId: "replayEvent",
  tags: ["Events"],
  summary: "Deliver an event again, to every destination or one",
  security,
  request: {
    params: z.object({ id: z.string() }),
    body: { content: { "application/json": { schema: replayBody } }, required: false },
  },
  responses: {
    202: jsonContent(
      z.object({
        queued: z.number().int(),
        delivery_ids: z.array(z.string()),
        in_flight: z.array(z.string()).openapi({ description: "deliveries left alone because an attempt of theirs is in flight" }),
      }),
      "delivered again, same webhook-id",
    ),
    409: jsonContent(errorSchema, "the payload was purged or erased, or every delivery to replay has an attempt in flight"),
    ...errors,
  },
});

/**
 * Delivers a stored event again: to one destination of its tenant (named by
 * the operator, so its event types and filter do not apply), or to every one
 * that wants it. Shared by the admin API, the dashboard and the portal.
 */
export async function replayStoredEvent(env: Env, event: EventRow & { shard: Shard }, destinationId?: string) {
  const payload = await payloadOf(env, event);
  if (payload === null) throw new RelayError("conflict", `event payload was ${purgedOrErased(env, event)}; nothing to deliver`);
  const destinations = (await destinationsOfTenants(env.DB, [event.tenant_id]).all<DestinationRow>()).results;
  let targets: string[];
  if (destinationId !== undefined) {
    if (!destinations.some((d) => d.id === destinationId)) notFound("destination of this event's tenant");
    targets = [destinationId];
  } else {
    const doc = filterDocument(event, JSON.parse(payload) as unknown);
    targets = destinations.filter((d) => destinationWants(d, event.type, () => doc)).map((d) => d.id);
  }
  const { replayed, inFlight } = await replayEvent(env, event, targets);
  if (inFlight.length && replayed.length === 0) {
    throw new RelayError("conflict", `an attempt is in flight for ${inFlight.join(", ")}; replay once it is recorded`);
  }
  return { queued: replayed.length, delivery_ids: replayed, in_flight: inFlight };
}

export const eventRoutes = router()
  .openapi(list, async (c) => {
    const { limit, cursor, ...filters } = c.req.valid("query");
    const position = decodeCursor(cursor, z.object({ received_at: z.number(), id: z.string() }));
    return c.json(pageBody(await searchEvents(c.env, filters, position, limit), viewEventSummary), 200);
  })
  .openapi(get, async (c) => {
    const detail = (await eventDetail(c.env, c.req.valid("param").id)) ?? notFound("event");
    return c.json(
      {
        ...viewEventSummary(detail.event),
        payload: detail.payload,
        deliveries: detail.deliveries.map((d) => viewDelivery(d.delivery, d.attempts)),
      },
      200,
    );
  })
  .openapi(replay, async (c) => {
    const event = (await findEvent(c.env, c.req.valid("param").id)) ?? notFound("event");
    const body = await replayRequest(await c.req.text());
    return c.json(await replayStoredEvent(c.env, event, body.destination_id), 202);
  });
