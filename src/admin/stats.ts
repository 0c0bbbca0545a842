import { createRoute, z } from "@hono/zod-openapi";
import { hourlyCounts } from "../query/stats";
import { timeParam } from "./pagination";
import { errors, jsonContent, router, security } from "./router";

const outcomeCounts = z.object({
  delivered: z.number().int(),
  failed: z.number().int(),
  dead: z.number().int(),
});

const hour = z
  .object({
    hour: z.string(),
    received: z.number().int(),
    ...outcomeCounts.shape,
    by_trigger: z
      .object({ first: outcomeCounts, retry: outcomeCounts, operator: outcomeCounts })
      .openapi({ description: "the same attempts split by what made them: a first attempt, an automatic retry, or an operator (retry, recover, replay, release)" }),
  })
  .openapi("HourlyStats");

const stats = createRoute({
  method: "get",
  path: "/v1/admin/stats",
  operationId: "getStats",
  tags: ["Stats"],
  summary: "Per-hour counts of events received and deliveries delivered, failed and dead",
  security,
  request: { query: z.object({ tenant: z.string().optional(), since: timeParam, until: timeParam }) },
  responses: {
    200: jsonContent(
      z.object({ data: z.array(hour) }),
      "per hour: events received, and attempts by their outcome (counted when made, so a failure later delivered stays a failure); default: the last 24 h",
    ),
    ...errors,
  },
});

export const statsRoutes = router().openapi(stats, async (c) => {
  const q = c.req.valid("query");
  const until = q.until ?? Date.now();
  const since = q.since ?? until - 24 * 3600_000;
  const hours = await hourlyCounts(c.env, q.tenant ?? null, since, until);
  return c.json({ data: hours.map((h) => ({ ...h, hour: new Date(h.hour).toISOString() })) }, 200);
});
