import { Hono, type Context } from "hono";
import { buildApp } from "../../src/app";
import type { UrlKind } from "../../src/callbacks/families";
import type { Env } from "../../src/env";
import type { AppEnv } from "../../src/http/app-env";
import { limitTenant } from "../../src/http/rate-limit";
import { ingestBodyLimit } from "../../src/ingest/body-limit";
import { eventIdFor } from "../../src/ingest/event-id";
import { handOff } from "../../src/ingest/hand-off";
import { parseCallbackBody } from "../../src/ingest/parse-body";
import { checkCallbackRequest } from "../../src/ingest/route";
import { authenticateTenant } from "../../src/ingest/tenant-auth";
import { validateCallback } from "../../src/ingest/validate";

/**
 * workerd's clock ticks in whole milliseconds, so one step is timed as 0 or 1
 * (or more) ticks. Summed over many callbacks the mean is still the step's
 * mean: a step of d < 1 ms that starts at a random point of a tick crosses
 * the next one with probability d. The sum of squares gives its standard error.
 */
interface Tally {
  n: number;
  sum: number;
  sumSq: number;
}

const tallies = new Map<string, Tally>();

function note(step: string, ms: number): void {
  let t = tallies.get(step);
  if (!t) tallies.set(step, (t = { n: 0, sum: 0, sumSq: 0 }));
  t.n++;
  t.sum += ms;
  t.sumSq += ms * ms;
}

async function timed<T>(step: string, run: () => T | Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await run();
  note(step, performance.now() - start);
  return result;
}

const relay = buildApp();

/**
 * The ingest route's middleware and handler (src/ingest/route.ts), step by
 * step in its order, each timed. A refusal would end the route; here it is a
 * broken bench, so it throws.
 */
async function steps(c: Context<AppEnv, "/v1/callbacks/:tenant/:kind">): Promise<Response> {
  const { tenant } = c.req.param();
  const kind = c.req.param("kind") as UrlKind;
  // Nothing at all: the request's first await, where workerd finishes work of its own that would otherwise land in auth.
  await timed("request start", () => undefined);
  await timed("auth", () => authenticateTenant(c, tenant));
  await timed("rate limit", () => limitTenant(c, tenant));
  await timed("checks", () => checkCallbackRequest(c, async () => {}));
  const bytes = await timed("body read", async () => {
    await ingestBodyLimit(c, async () => {});
    return new Uint8Array(await c.req.arrayBuffer());
  });
  const { text, payload } = await timed("JSON parse", () => parseCallbackBody(bytes));
  const validation = await timed("validation", () => validateCallback(kind, payload));
  if (!validation.ok) throw new Error(`bench callback refused: ${JSON.stringify(validation.issues)}`);
  const eventId = await timed("event id hash", () => eventIdFor(tenant, text));
  await timed("queue send", () =>
    handOff(c.env, {
      event_id: eventId,
      tenant_id: tenant,
      kind: validation.family.kind,
      type: validation.eventType,
      received_at: Date.now(),
      body: text,
      size: bytes.byteLength,
      columns: validation.family.columns(payload),
    }),
  );
  return timed("answer", () => c.json({ ok: true as const, event_id: eventId }));
}

const app = new Hono<AppEnv>();

// Each callback goes one way or the other at random: strict turns would line
// up with work done every n-th callback (the sampled rate limit) and give it all to one side.
app.post("/v1/callbacks/:tenant/:kind", async (c) =>
  Math.random() < 0.5
    ? timed("steps total", () => steps(c))
    : timed("whole relay", () => relay.fetch(c.req.raw, c.env, c.executionCtx)),
);

app.get("/bench/steps", (c) => c.json(Object.fromEntries(tallies)));
app.post("/bench/steps/reset", (c) => {
  tallies.clear();
  return c.body(null, 204);
});

// Everything else (admin API, health) is the relay's own.
app.all("*", (c) => relay.fetch(c.req.raw, c.env, c.executionCtx));

export default {
  fetch: app.fetch,
  queue: async (batch) => batch.ackAll(),
} satisfies ExportedHandler<Env, unknown>;
