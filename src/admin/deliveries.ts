import { createRoute, z } from "@hono/zod-openapi";
import { deliveryDetail, findDelivery, searchDeliveries } from "../query/deliveries";
import { decodeCursor, listQuery, pageBody, pageSchema } from "./pagination";
import { retryDelivery } from "../delivery/operator";
import { transitions } from "../delivery/lifecycle";
import type { Env } from "../env";
import { RelayError } from "../http/errors";
import { errors, jsonContent, notFound, router, security } from "./router";
import { deliverySchema, deliveryStatus, errorSchema, viewDelivery } from "./views";

const list = createRoute({
  method: "get",
  path: "/v1/admin/deliveries",
  operationId: "listDeliveries",
  tags: ["Deliveries"],
  summary: "List deliveries by status, tenant or destination",
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
  operationId: "getDelivery",
  tags: ["Deliveries"],
  summary: "Get a delivery with its attempts",
  security,
  request: { params: z.object({ id: z.string() }) },
  responses: { 200: jsonContent(deliverySchema, "one delivery with its attempts"), ...errors },
});

const retry = createRoute({
  method: "post",
  path: "/v1/admin/deliveries/{id}/retry",
  operationId: "retryDelivery",
  tags: ["Deliveries"],
  summary: "Try a dead or failed delivery again from the start of the schedule",
  security,
  request: { params: z.object({ id: z.string() }) },
  responses: {
    202: jsonContent(z.object({ queued: z.number().int() }), "tried again from the start of the schedule (0 when its destination is paused: it waits as held)"),
    409: jsonContent(errorSchema, "the delivery is not dead or failed, or an attempt of it is in flight"),
    ...errors,
  },
});

/** Tries a dead or failed delivery again from the start of the schedule (shared by the admin API, the dashboard and the portal). */
export async function retryStoredDelivery(env: Env, id: string) {
  const delivery = (await findDelivery(env, id)) ?? notFound("delivery");
  const from: readonly string[] = transitions.restart.from;
  if (!from.includes(delivery.status)) {
    throw new RelayError("conflict", `only a ${from.join(" or ")} delivery can be retried; this one is ${delivery.status}`);
  }
  const result = await retryDelivery(env, delivery.id);
  if (!result) throw new RelayError("conflict", "an attempt of this delivery is in flight; retry once it is recorded");
  return result;
}

export const deliveryRoutes = router()
  .openapi(list, async (c) => {
    const { limit, cursor, ...filters } = c.req.valid("query");
    const position = decodeCursor(cursor, z.object({ created_at: z.number(), id: z.string() }));
    return c.json(pageBody(await searchDeliveries(c.env, filters, position, limit), (d) => viewDelivery(d)), 200);
  })
  .openapi(get, async (c) => {
    const detail = (await deliveryDetail(c.env, c.req.valid("param").id)) ?? notFound("delivery");
    return c.json(viewDelivery(detail.delivery, detail.attempts), 200);
  })
  .openapi(retry, async (c) => c.json(await retryStoredDelivery(c.env, c.req.valid("param").id), 202));
