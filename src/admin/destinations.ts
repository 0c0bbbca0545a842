import { createRoute, z } from "@hono/zod-openapi";
import { eventTypes } from "../callbacks/families";
import { randomToken } from "../crypto/hash";
import { open, resealedWithCurrentKey, seal } from "../crypto/secret-box";
import { deleteDestination, getDestination, insertDestination, listDestinations, replaceSealedValues, rotateDestinationSecret, updateDestination, type DestinationRow } from "../db/destinations";
import { getTenant } from "../db/tenants";
import { runJob } from "../delivery/operator";
import { destinationHeadersSchema, normalizeDestinationUrl, refuseDestination } from "../delivery/destination-policy";
import { payloadFilterSchema } from "../delivery/payload-filter";
import { isSigningSecret, newSigningSecret } from "../delivery/sign";
import { config, type Env } from "../env";
import { RelayError } from "../http/errors";
import { decodeCursor, listQuery, page, pageSchema, timeParam } from "./pagination";
import { errors, jsonBody, jsonContent, notFound, router, security } from "./router";
import { destinationSchema, viewDestination } from "./views";

const headersSchema = destinationHeadersSchema;

const destinationFields = {
  url: z.string().max(2048).openapi({ example: "https://crm.example.com/hooks/airudder" }),
  event_types: z.array(z.enum(eventTypes)).min(1).nullable().optional().openapi({ description: "only these types; null or absent = all" }),
  filter: payloadFilterSchema.nullable().optional(),
  format: z.enum(["envelope", "raw"]).optional().openapi({ description: "`envelope` (default) or `raw` (AiRudder's body exactly)" }),
  headers: headersSchema.nullable().optional().openapi({ description: "extra request headers, stored encrypted" }),
  enabled: z.boolean().optional(),
  rate_limit: z.number().int().min(1).max(100_000).nullable().optional().openapi({
    description: "at most this many requests per rate_limit_period; null or absent = no limit. Waiting for it is not a failed attempt",
  }),
  rate_limit_period: z.enum(["second", "minute", "hour"]).optional().openapi({ description: "default `second`" }),
};

export const createBody = z
  .strictObject({
    ...destinationFields,
    secret: z.string().refine(isSigningSecret, "must be whsec_ followed by base64 of at least 16 bytes").optional(),
  })
  .openapi("DestinationCreate");

export const patchBody = z.strictObject(destinationFields).partial().openapi("DestinationPatch");

const withSecret = destinationSchema.extend({ secret: z.string().openapi({ description: "the signing secret, shown once" }) }).openapi("DestinationWithSecret");

const create = createRoute({
  method: "post",
  path: "/v1/admin/tenants/{id}/destinations",
  operationId: "createDestination",
  tags: ["Destinations"],
  summary: "Add a destination (a CRM webhook) to a tenant; its signing secret is shown once",
  security,
  request: { params: z.object({ id: z.string() }), body: jsonBody(createBody) },
  responses: { 201: jsonContent(withSecret, "the destination and its signing secret"), ...errors },
});

const list = createRoute({
  method: "get",
  path: "/v1/admin/tenants/{id}/destinations",
  operationId: "listDestinations",
  tags: ["Destinations"],
  summary: "List a tenant's destinations",
  security,
  request: { params: z.object({ id: z.string() }), query: z.object(listQuery) },
  responses: { 200: jsonContent(pageSchema(destinationSchema), "the tenant's destinations"), ...errors },
});

const get = createRoute({
  method: "get",
  path: "/v1/admin/destinations/{id}",
  operationId: "getDestination",
  tags: ["Destinations"],
  summary: "Get a destination",
  security,
  request: { params: z.object({ id: z.string() }) },
  responses: { 200: jsonContent(destinationSchema, "one destination"), ...errors },
});

const patch = createRoute({
  method: "patch",
  path: "/v1/admin/destinations/{id}",
  operationId: "updateDestination",
  tags: ["Destinations"],
  summary: "Change a destination (pause, resume, URL, filters…)",
  security,
  request: { params: z.object({ id: z.string() }), body: jsonBody(patchBody) },
  responses: {
    200: jsonContent(destinationSchema, "the changed destination; enabling it releases its held deliveries in order"),
    ...errors,
  },
});

const remove = createRoute({
  method: "delete",
  path: "/v1/admin/destinations/{id}",
  operationId: "deleteDestination",
  tags: ["Destinations"],
  summary: "Remove a destination",
  security,
  request: { params: z.object({ id: z.string() }) },
  responses: { 204: { description: "removed; its undelivered deliveries become dead" }, ...errors },
});

const rotate = createRoute({
  method: "post",
  path: "/v1/admin/destinations/{id}/rotate-secret",
  operationId: "rotateDestinationSecret",
  tags: ["Destinations"],
  summary: "Rotate a destination's signing secret, the old one signing too for a grace period",
  security,
  request: { params: z.object({ id: z.string() }) },
  responses: {
    200: jsonContent(
      withSecret.extend({ previous_secret_expires_at: z.string() }),
      "the new secret; the old one also signs until previous_secret_expires_at",
    ),
    ...errors,
  },
});

const recover = createRoute({
  method: "post",
  path: "/v1/admin/destinations/{id}/recover",
  operationId: "recoverDestination",
  tags: ["Destinations"],
  summary: "Try again every failed or dead delivery to a destination since a time",
  security,
  request: { params: z.object({ id: z.string() }), body: jsonBody(z.strictObject({ since: timeParam.pipe(z.number()) })) },
  responses: {
    202: jsonContent(
      z.object({ queued: z.number().int(), held: z.number().int(), continuing: z.boolean() }),
      "failed and dead deliveries since then, tried again from the start of the schedule (held instead while the destination is paused); in chunks of 500, and `continuing` when more goes on in the background",
    ),
    ...errors,
  },
});

async function headerNames(dest: DestinationRow, env: Env): Promise<string[]> {
  if (!dest.headers_enc) return [];
  return Object.keys(JSON.parse(await open(dest.headers_enc, env)) as object);
}

/** What an ENCRYPTION_KEY_PREVIOUS key sealed is sealed again with ENCRYPTION_KEY whenever the destination is written. */
const resealOldKeys = async (env: Env, d: DestinationRow) =>
  replaceSealedValues(env.DB, d.id, await resealedWithCurrentKey({ secret_enc: d.secret_enc, previous_secret_enc: d.previous_secret_enc, headers_enc: d.headers_enc }, env));

function checkUrl(env: Env, url: string): void {
  const refusal = refuseDestination(url, config(env).ALLOW_INSECURE_DESTINATIONS);
  if (refusal) {
    throw new RelayError("invalid_request", `destination URL refused: ${refusal}`, { issues: [{ path: "url", message: refusal }] });
  }
}

const sealHeaders = (env: Env, headers: Record<string, string> | null | undefined) =>
  headers && Object.keys(headers).length > 0 ? seal(JSON.stringify(headers), env.ENCRYPTION_KEY) : Promise.resolve(null);

/*
 * What the destination routes do, shared by the admin API, the dashboard and
 * the tenant portal so that all three behave alike. Callers check that the
 * destination or tenant is theirs to touch; these check that it exists.
 */

export type DestinationCreate = z.infer<typeof createBody>;
export type DestinationPatch = z.infer<typeof patchBody>;

/** The destination as the API shows it (header names, never values). */
export const destinationView = async (env: Env, dest: DestinationRow) => viewDestination(dest, await headerNames(dest, env));

/** Adds a destination to the tenant; answers it with its signing secret (shown once). */
export async function addDestination(env: Env, tenantId: string, body: DestinationCreate) {
  (await getTenant(env.DB, tenantId)) ?? notFound("tenant");
  checkUrl(env, body.url);
  const secret = body.secret ?? newSigningSecret();
  const now = Date.now();
  const row: DestinationRow = {
    id: randomToken("dst_", 12),
    tenant_id: tenantId,
    url: normalizeDestinationUrl(body.url),
    event_types: body.event_types ? JSON.stringify(body.event_types) : null,
    filter: body.filter ? JSON.stringify(body.filter) : null,
    format: body.format ?? "envelope",
    secret_enc: await seal(secret, env.ENCRYPTION_KEY),
    previous_secret_enc: null,
    previous_secret_expires_at: null,
    headers_enc: await sealHeaders(env, body.headers),
    enabled: body.enabled === false ? 0 : 1,
    disabled_reason: body.enabled === false ? "created paused" : null,
    rate_limit: body.rate_limit ?? null,
    rate_limit_period: body.rate_limit ? (body.rate_limit_period ?? "second") : null,
    consecutive_failures: 0,
    consecutive_dead: 0,
    failing_since: null,
    created_at: now,
    updated_at: now,
  };
  await insertDestination(env.DB, row);
  return { ...viewDestination(row, Object.keys(body.headers ?? {})), secret };
}

/** Changes the given fields; enabling releases the held deliveries in order. `pausedBy` names who paused it, for `disabled_reason`. */
export async function changeDestination(env: Env, id: string, body: DestinationPatch, pausedBy = "operator") {
  const before = (await getDestination(env.DB, id)) ?? notFound("destination");
  if (body.url !== undefined) checkUrl(env, body.url);
  await resealOldKeys(env, before);
  const now = Date.now();
  await updateDestination(
    env.DB,
    id,
    {
      url: body.url === undefined ? undefined : normalizeDestinationUrl(body.url),
      event_types: body.event_types === undefined ? undefined : body.event_types === null ? null : JSON.stringify(body.event_types),
      filter: body.filter === undefined ? undefined : body.filter === null ? null : JSON.stringify(body.filter),
      format: body.format,
      headers_enc: body.headers === undefined ? undefined : await sealHeaders(env, body.headers),
      enabled: body.enabled === undefined ? undefined : body.enabled ? 1 : 0,
      disabled_reason: body.enabled === undefined ? undefined : body.enabled ? null : `paused by ${pausedBy}`,
      rate_limit: body.rate_limit,
      rate_limit_period:
        body.rate_limit === null ? null : body.rate_limit !== undefined || body.rate_limit_period !== undefined
          ? (body.rate_limit_period ?? before.rate_limit_period ?? "second")
          : undefined,
    },
    now,
  );
  // Committed first: should the release stop part way, the sweep releases
  // the held deliveries of every enabled destination until none is left.
  if (body.enabled === true) await runJob(env, { t: "job", job: "release", destination_id: id });
  return destinationView(env, (await getDestination(env.DB, id)) ?? notFound("destination"));
}

/** Removes the destination; its undelivered deliveries become dead. */
export async function removeDestination(env: Env, id: string): Promise<void> {
  (await getDestination(env.DB, id)) ?? notFound("destination");
  await deleteDestination(env.DB, id);
  // Its open deliveries can never be made; a claim would abandon them one by one anyway.
  await runJob(env, { t: "job", job: "abandon", destination_id: id });
}

/** A new signing secret; the old one keeps signing too for SECRET_GRACE_SECONDS. */
export async function rotateSigningSecret(env: Env, id: string) {
  // Sealed again first, so that the secret the rotation keeps as the previous one is under the current key too.
  await resealOldKeys(env, (await getDestination(env.DB, id)) ?? notFound("destination"));
  const secret = newSigningSecret();
  const now = Date.now();
  const expires = now + config(env).SECRET_GRACE_SECONDS * 1000;
  await rotateDestinationSecret(env.DB, id, await seal(secret, env.ENCRYPTION_KEY), expires, now);
  const dest = (await getDestination(env.DB, id)) ?? notFound("destination");
  return { ...(await destinationView(env, dest)), secret, previous_secret_expires_at: new Date(expires).toISOString() };
}

/** Every failed or dead delivery to the destination since `since`, tried again. */
export async function recoverDestination(env: Env, id: string, since: number) {
  (await getDestination(env.DB, id)) ?? notFound("destination");
  return runJob(env, { t: "job", job: "recover", destination_id: id, since });
}

export const destinationRoutes = router()
  .openapi(create, async (c) => c.json(await addDestination(c.env, c.req.valid("param").id, c.req.valid("json")), 201))
  .openapi(list, async (c) => {
    const { id } = c.req.valid("param");
    const { limit, cursor } = c.req.valid("query");
    const after = decodeCursor(cursor, z.object({ id: z.string() }));
    const rows = (await listDestinations(c.env.DB, id, after?.id ?? "", limit + 1)).results;
    const names = await Promise.all(rows.map((r) => headerNames(r, c.env)));
    const byId = new Map(rows.map((r, i) => [r.id, names[i]!]));
    return c.json(page(rows, limit, (r) => viewDestination(r, byId.get(r.id)!), (r) => ({ id: r.id })), 200);
  })
  .openapi(get, async (c) => {
    const dest = (await getDestination(c.env.DB, c.req.valid("param").id)) ?? notFound("destination");
    return c.json(await destinationView(c.env, dest), 200);
  })
  .openapi(patch, async (c) => c.json(await changeDestination(c.env, c.req.valid("param").id, c.req.valid("json")), 200))
  .openapi(remove, async (c) => {
    await removeDestination(c.env, c.req.valid("param").id);
    return c.body(null, 204);
  })
  .openapi(rotate, async (c) => c.json(await rotateSigningSecret(c.env, c.req.valid("param").id), 200))
  .openapi(recover, async (c) => c.json(await recoverDestination(c.env, c.req.valid("param").id, c.req.valid("json").since), 202));
