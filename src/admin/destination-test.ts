import { createRoute, z } from "@hono/zod-openapi";
import { eventTypes } from "../callbacks/families";
import { getDestination } from "../db/destinations";
import { sendTestEvent } from "../delivery/test-event";
import { errors, jsonContent, notFound, router, security } from "./router";

const body = z
  .strictObject({
    type: z.enum(eventTypes).optional().openapi({ description: "the sample's event type (default airudder.inbound.transfer)" }),
  })
  .openapi("TestEventRequest");

const attempt = z
  .object({
    event_id: z.string().openapi({ description: "a new `evt_test_…` id each time; nothing is stored" }),
    type: z.enum(eventTypes),
    status_code: z.number().int().nullable().openapi({ description: "the destination's answer; null when there was none" }),
    duration_ms: z.number().int(),
    error: z.string().nullable().openapi({ description: "why there was no answer (timeout, network error, refused URL)" }),
    response_body: z.string().nullable().openapi({ description: "first 4 KiB of the answer" }),
  })
  .openapi("TestAttempt");

const route = createRoute({
  method: "post",
  path: "/v1/admin/destinations/{id}/test",
  operationId: "testDestination",
  tags: ["Destinations"],
  summary: "Send a signed sample event to the destination now",
  description:
    "Sends one sample of the given type, signed and formatted exactly as a delivery to this destination would be (even while it is paused), " +
    "and answers with what happened. Nothing is stored, retried or counted. The body may be left out.",
  security,
  request: {
    params: z.object({ id: z.string() }),
    body: { content: { "application/json": { schema: body } }, required: false },
  },
  responses: { 200: jsonContent(attempt, "the attempt: status, duration and error"), ...errors },
});

export const destinationTestRoutes = router().openapi(route, async (c) => {
  const dest = (await getDestination(c.env.DB, c.req.valid("param").id)) ?? notFound("destination");
  return c.json(await sendTestEvent(c.env, dest, c.req.valid("json").type ?? "airudder.inbound.transfer"), 200);
});
