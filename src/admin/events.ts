import { createRoute, z } from "@hono/zod-openapi";
import { eventTypes } from "../callbacks/families";
import { attemptsOf } from "../db/attempts";
import { deliveriesOfEvent } from "../db/deliveries";
import { destinationsOfTenants, type DestinationRow } from "../db/destinations";
import { getEvent, listEvents, type EventRow } from "../db/events";
import type { Env } from "../env";
import { destinationWants, filterDocument } from "../delivery/routing";
import { deliveryRangeOf } from "../delivery/routing";
import { RelayError } from "../http/errors";
import { decodeCursor, listQuery, page, pageSchema, timeParam } from "./pagination";
import { replayEvent } from "../delivery/operator";
import { payloadStateOf, readPayload } from "../storage/payloads";
import { errors, jsonContent, notFound, router, security } from "./router";
import { errorSchema, eventDetailSchema, eventSummarySchema, viewDelivery, viewEventSummary } from "./views";

const list = createRoute({
  method: "get",
  path: "/v1/admin/events",
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
  security,
  request: { params: z.object({ id: z.string() }) },
  responses: { 200: jsonContent(eventDetailSchema, "the event, its payload, its deliveries and their attempts"), ...errors },
});

/** A kept payload whose object is gone (deleted by retention, a day or so after its events expire) is purged too. */
const stateOf = (env: Env, event: EventRow, payload: string | null) => {
  const state = payloadStateOf(env, event);
  return state === "kept" && payload === null ? "purged" : state;
};

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

export const eventRoutes = router()
  .openapi(list, async (c) => {
    const { limit, cursor, ...filters } = c.req.valid("query");
    const position = decodeCursor(cursor, z.object({ received_at: z.number(), id: z.string() }));
    const now = Date.now();
    const rows = (await listEvents(c.env.DB, filters, position, limit + 1)).results.map((e) => ({
      ...e,
      payload_state: payloadStateOf(c.env, e, now),
    }));
    return c.json(page(rows, limit, viewEventSummary, (e) => ({ received_at: e.received_at, id: e.id })), 200);
  })
  .openapi(get, async (c) => {
    const event = (await getEvent(c.env.DB, c.req.valid("param").id)) ?? notFound("event");
    const deliveries = (await deliveriesOfEvent(c.env.DB, deliveryRangeOf(event.id))).results;
    const attempts = deliveries.length ? (await attemptsOf(c.env.DB, deliveries.map((d) => d.id))).results : [];
    const payload = await readPayload(c.env, event);
    return c.json(
      {
        ...viewEventSummary({ ...event, payload_state: stateOf(c.env, event, payload) }),
        payload: payload === null ? null : (JSON.parse(payload) as unknown),
        deliveries: deliveries.map((d) => viewDelivery(d, attempts.filter((a) => a.delivery_id === d.id))),
      },
      200,
    );
  })
  .openapi(replay, async (c) => {
    const event = (await getEvent(c.env.DB, c.req.valid("param").id)) ?? notFound("event");
    const payload = await readPayload(c.env, event);
    if (payload === null) throw new RelayError("conflict", `event payload was ${stateOf(c.env, event, payload)}; nothing to deliver`);
    const body = await replayRequest(await c.req.text());
    const destinations = (await destinationsOfTenants(c.env.DB, [event.tenant_id]).all<DestinationRow>()).results;
    let targets: string[];
    if (typeof body.destination_id === "string") {
      // A named destination is the operator's explicit choice, so its event types and filter do not apply.
      if (!destinations.some((d) => d.id === body.destination_id)) notFound("destination of this event's tenant");
      targets = [body.destination_id];
    } else {
      const doc = filterDocument(event, JSON.parse(payload) as unknown);
      targets = destinations.filter((d) => destinationWants(d, event.type, doc)).map((d) => d.id);
    }
    const { replayed, inFlight } = await replayEvent(c.env, event, targets);
    if (inFlight.length && replayed.length === 0) {
      throw new RelayError("conflict", `an attempt is in flight for ${inFlight.join(", ")}; replay once it is recorded`);
    }
    return c.json({ queued: replayed.length, delivery_ids: replayed, in_flight: inFlight }, 202);
  });
