import { createRoute, z } from "@hono/zod-openapi";
import { urlKinds, type UrlKind } from "../callbacks/families";
import { getQuarantine, listQuarantine, markQuarantineReplayed } from "../db/quarantine";
import type { Env } from "../env";
import { RelayError } from "../http/errors";
import { eventIdFor } from "../ingest/event-id";
import { handOff } from "../ingest/hand-off";
import { validateCallback } from "../ingest/validate";
import { decodeCursor, listQuery, page, pageSchema } from "./pagination";
import { errors, jsonContent, notFound, router, security } from "./router";
import { errorSchema, quarantineSchema, viewQuarantine } from "./views";

const list = createRoute({
  method: "get",
  path: "/v1/admin/quarantine",
  operationId: "listQuarantine",
  tags: ["Quarantine"],
  summary: "List callbacks refused by their schema, with their issues",
  security,
  request: { query: z.object({ ...listQuery, tenant: z.string().optional() }) },
  responses: { 200: jsonContent(pageSchema(quarantineSchema), "refused callbacks with their issues, newest first"), ...errors },
});

const get = createRoute({
  method: "get",
  path: "/v1/admin/quarantine/{id}",
  operationId: "getQuarantined",
  tags: ["Quarantine"],
  summary: "Get a refused callback with its raw body",
  security,
  request: { params: z.object({ id: z.string() }) },
  responses: { 200: jsonContent(quarantineSchema, "one refused callback with its raw body"), ...errors },
});

const replay = createRoute({
  method: "post",
  path: "/v1/admin/quarantine/{id}/replay",
  operationId: "replayQuarantined",
  tags: ["Quarantine"],
  summary: "Validate a refused callback again and accept it if it now passes",
  security,
  request: { params: z.object({ id: z.string() }) },
  responses: {
    200: jsonContent(z.object({ ok: z.literal(true), event_id: z.string() }), "the kept body now passes and was accepted"),
    422: jsonContent(errorSchema, "it still fails; the issues say why"),
    ...errors,
  },
});

/** Validates a kept body again; hands it on when it now passes, else 422 with the issues (shared by the admin API and the dashboard). */
export async function replayQuarantined(env: Env, id: string) {
  const row = (await getQuarantine(env.DB, id)) ?? notFound("quarantined callback");
  const kind = (urlKinds as readonly string[]).includes(row.kind) ? (row.kind as UrlKind) : "any";
  const payload = JSON.parse(row.body) as Record<string, unknown>;
  const validation = await validateCallback(kind, payload);
  if (!validation.ok) {
    throw new RelayError("invalid_payload", `still does not match the ${validation.family.kind} schema`, {
      issues: validation.issues,
    });
  }
  const eventId = await eventIdFor(row.tenant_id, row.body);
  await handOff(env, {
    event_id: eventId,
    tenant_id: row.tenant_id,
    kind: validation.family.kind,
    type: validation.eventType,
    received_at: row.received_at,
    body: row.body,
    size: new TextEncoder().encode(row.body).byteLength,
    columns: validation.family.columns(payload),
  });
  await markQuarantineReplayed(env.DB, row.id, eventId);
  return { ok: true as const, event_id: eventId };
}

export const quarantineRoutes = router()
  .openapi(list, async (c) => {
    const { limit, cursor, tenant } = c.req.valid("query");
    const position = decodeCursor(cursor, z.object({ received_at: z.number(), id: z.string() }));
    const rows = (await listQuarantine(c.env.DB, tenant ?? null, position, limit + 1)).results;
    return c.json(page(rows, limit, (q) => viewQuarantine(q, false), (q) => ({ received_at: q.received_at, id: q.id })), 200);
  })
  .openapi(get, async (c) => {
    const row = (await getQuarantine(c.env.DB, c.req.valid("param").id)) ?? notFound("quarantined callback");
    return c.json(viewQuarantine(row, true), 200);
  })
  .openapi(replay, async (c) => c.json(await replayQuarantined(c.env, c.req.valid("param").id), 200));
