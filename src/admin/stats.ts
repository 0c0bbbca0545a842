import { createRoute, z } from "@hono/zod-openapi";
import { hourlyStats, type AttemptTrigger } from "../db/stats";
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

type Counts = z.infer<typeof outcomeCounts>;
const zero = (): Counts => ({ delivered: 0, failed: 0, dead: 0 });

export const statsRoutes = router().openapi(stats, async (c) => {
  const q = c.req.valid("query");
  const until = q.until ?? Date.now();
  const since = q.since ?? until - 24 * 3600_000;
  const [events, attempts] = await hourlyStats(c.env.DB, q.tenant ?? null, since, until);
  const hours = new Map<number, { received: number } & Counts & { by_trigger: Record<AttemptTrigger, Counts> }>();
  const bucket = (h: number) => {
    let b = hours.get(h);
    if (!b) hours.set(h, (b = { received: 0, ...zero(), by_trigger: { first: zero(), retry: zero(), operator: zero() } }));
    return b;
  };
  for (const r of events!.results) bucket(r.hour).received = r.n;
  for (const r of attempts!.results) {
    // A 410 (held) is not one of the three outcomes the contract counts.
    if (r.outcome !== "delivered" && r.outcome !== "failed" && r.outcome !== "dead") continue;
    const b = bucket(r.hour);
    b[r.outcome] += r.n;
    b.by_trigger[r.trigger!][r.outcome] += r.n;
  }
  const data = [...hours.entries()]
    .sort(([a], [b]) => a - b)
    .map(([h, b]) => ({ hour: new Date(h).toISOString(), ...b }));
  return c.json({ data }, 200);
});
