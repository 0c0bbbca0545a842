import { createRoute, z } from "@hono/zod-openapi";
import { attemptsOf } from "../db/attempts";
import { getDelivery, listDeliveries } from "../db/deliveries";
import { decodeCursor, listQuery, page, pageSchema } from "./pagination";
import { retryDelivery } from "../delivery/operator";
import { transitions } from "../delivery/lifecycle";
import { RelayError } from "../http/errors";
import { errors, jsonContent, notFound, router, security } from "./router";
import { deliverySchema, deliveryStatus, errorSchema, viewDelivery } from "./views";

const list = createRoute({
  method: "get",
  path: "/v1/admin/deliveries",
  security,
  request: {
    query: z.object({
      ...listQuery,
      status: deliveryStatus.optional(),
      tenant: z.string().optional(),
      destination: z.string().optional(),
    }),
  },
  responses: { 200: jsonContent(pageSchema(deliverySchema), "deliveries, newest first (without attempts)"), ...errors },
});

const get = createRoute({
  method: "get",
  path: "/v1/admin/deliveries/{id}",
  security,
  request: { params: z.object({ id: z.string() }) },
  responses: { 200: jsonContent(deliverySchema, "one delivery with its attempts"), ...errors },
});

const retry = createRoute({
  method: "post",
  path: "/v1/admin/deliveries/{id}/retry",
  security,
  request: { params: z.object({ id: z.string() }) },
  responses: {
    202: jsonContent(z.object({ queued: z.number().int() }), "tried again from the start of the schedule (0 when its destination is paused: it waits as held)"),
    409: jsonContent(errorSchema, "the delivery is not dead or failed, or an attempt of it is in flight"),
    ...errors,
  },
});

export const deliveryRoutes = router()
  .openapi(list, async (c) => {
    const { limit, cursor, ...filters } = c.req.valid("query");
    const position = decodeCursor(cursor, z.object({ created_at: z.number(), id: z.string() }));
    const rows = (await listDeliveries(c.env.DB, filters, position, limit + 1)).results;
    return c.json(page(rows, limit, (d) => viewDelivery(d), (d) => ({ created_at: d.created_at, id: d.id })), 200);
  })
  .openapi(get, async (c) => {
    const delivery = (await getDelivery(c.env.DB, c.req.valid("param").id)) ?? notFound("delivery");
    const attempts = (await attemptsOf(c.env.DB, [delivery.id])).results;
    return c.json(viewDelivery(delivery, attempts), 200);
  })
  .openapi(retry, async (c) => {
    const delivery = (await getDelivery(c.env.DB, c.req.valid("param").id)) ?? notFound("delivery");
    const from: readonly string[] = transitions.restart.from;
    if (!from.includes(delivery.status)) {
      throw new RelayError("conflict", `only a ${from.join(" or ")} delivery can be retried; this one is ${delivery.status}`);
    }
    const result = await retryDelivery(c.env, delivery.id);
    if (!result) throw new RelayError("conflict", "an attempt of this delivery is in flight; retry once it is recorded");
    return c.json(result, 202);
  });
