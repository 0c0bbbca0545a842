import { createRoute, z } from "@hono/zod-openapi";
import { hourlyStats } from "../db/stats";
import { timeParam } from "./pagination";
import { errors, jsonContent, router, security } from "./router";

const hour = z
  .object({
    hour: z.string(),
    received: z.number().int(),
    delivered: z.number().int(),
    failed: z.number().int(),
    dead: z.number().int(),
  })
  .openapi("HourlyStats");

const stats = createRoute({
  method: "get",
  path: "/v1/admin/stats",
  security,
  request: { query: z.object({ tenant: z.string().optional(), since: timeParam, until: timeParam }) },
  responses: {
    200: jsonContent(
      z.object({ data: z.array(hour) }),
      "per hour: events received, and deliveries by the state they reached that hour (default: the last 24 h)",
    ),
    ...errors,
  },
});

export const statsRoutes = router().openapi(stats, async (c) => {
  const q = c.req.valid("query");
  const until = q.until ?? Date.now();
  const since = q.since ?? until - 24 * 3600_000;
  const [events, deliveries] = await hourlyStats(c.env.DB, q.tenant ?? null, since, until);
  const hours = new Map<number, { received: number; delivered: number; failed: number; dead: number }>();
  const bucket = (h: number) => {
    let b = hours.get(h);
    if (!b) hours.set(h, (b = { received: 0, delivered: 0, failed: 0, dead: 0 }));
    return b;
  };
  for (const r of events!.results) bucket(r.hour).received = r.n;
  for (const r of deliveries!.results) bucket(r.hour)[r.status as "delivered" | "failed" | "dead"] = r.n;
  const data = [...hours.entries()]
    .sort(([a], [b]) => a - b)
    .map(([h, b]) => ({ hour: new Date(h).toISOString(), ...b }));
  return c.json({ data }, 200);
});
