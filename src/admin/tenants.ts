import { createRoute, z } from "@hono/zod-openapi";
import { randomToken, sha256Hex } from "../crypto/hash";
import { getTenant, insertTenant, listTenants, rotateTenantToken, TENANT_ID_PATTERN } from "../db/tenants";
import type { Env } from "../env";
import { RelayError } from "../http/errors";
import { forgetTenant } from "../ingest/tenant-auth";
import { decodeCursor, listQuery, page, pageSchema } from "./pagination";
import { errors, jsonBody, jsonContent, notFound, router, security } from "./router";
import { errorSchema, tenantSchema, viewTenant } from "./views";

const tenantId = z
  .string()
  .regex(TENANT_ID_PATTERN, "lower-case letters, digits, - and _, at most 63 characters")
  .openapi({ example: "acme" });

const createdTenant = tenantSchema
  .extend({ ingest_token: z.string().openapi({ description: "shown once; only its hash is stored" }) })
  .openapi("TenantWithToken");

const create = createRoute({
  method: "post",
  path: "/v1/admin/tenants",
  operationId: "createTenant",
  tags: ["Tenants"],
  summary: "Create a tenant; its ingest token is shown once",
  security,
  request: { body: jsonBody(z.strictObject({ id: tenantId, name: z.string().min(1).max(200).optional() })) },
  responses: {
    201: jsonContent(createdTenant, "the tenant and its ingest token"),
    409: jsonContent(errorSchema, "a tenant with this id exists"),
    ...errors,
  },
});

const list = createRoute({
  method: "get",
  path: "/v1/admin/tenants",
  operationId: "listTenants",
  tags: ["Tenants"],
  summary: "List tenants",
  security,
  request: { query: z.object(listQuery) },
  responses: { 200: jsonContent(pageSchema(tenantSchema), "tenants by id"), ...errors },
});

/** How long a replaced ingest token keeps working unless the rotation says otherwise: a day to change AiRudder's URLs. */
const TOKEN_GRACE_SECONDS = 86_400;

const rotateBody = z
  .strictObject({
    grace_seconds: z
      .int()
      .min(0)
      .max(30 * 86_400)
      .optional()
      .openapi({
        description: `how long the previous token keeps working, in seconds (default ${TOKEN_GRACE_SECONDS}, at most 30 days); 0 ends it now`,
        example: 3600,
      }),
  })
  .openapi("TokenRotation");

const rotatedTenant = createdTenant
  .extend({
    previous_token_expires_at: z.string().nullable().openapi({ description: "until when the previous token works; null when it stopped at once" }),
  })
  .openapi("TenantWithRotatedToken");

const rotate = createRoute({
  method: "post",
  path: "/v1/admin/tenants/{id}/rotate-token",
  operationId: "rotateIngestToken",
  tags: ["Tenants"],
  summary: "Rotate a tenant's ingest token, the previous one kept for a grace period",
  description:
    "Issues a new ingest token, valid at once in every Worker isolate. The previous token keeps working for `grace_seconds` " +
    "(default one day), so AiRudder's callback URLs can be changed without losing callbacks; `0` ends it now " +
    "(other isolates may still accept it for up to 60 s from their cache). The body may be left out.",
  security,
  request: {
    params: z.object({ id: z.string() }),
    body: { content: { "application/json": { schema: rotateBody } }, required: false },
  },
  responses: {
    200: jsonContent(rotatedTenant, "the new ingest token (shown once) and until when the previous one works"),
    ...errors,
  },
});

const newIngestToken = () => randomToken("rit_");

/*
 * What creating a tenant and rotating its token do, shared by the admin API
 * and the dashboard so that both behave alike.
 */

/** Creates a tenant and answers it with its ingest token (shown once: only the hash is stored). */
export async function createTenantWithToken(env: Env, input: { id: string; name?: string }) {
  const token = newIngestToken();
  const now = Date.now();
  const name = input.name ?? input.id;
  const result = await insertTenant(env.DB, { id: input.id, name, token_hash: await sha256Hex(token), created_at: now });
  if (result.meta.changes === 0) throw new RelayError("conflict", `tenant ${input.id} exists`);
  return { ...viewTenant({ id: input.id, name, created_at: now }), ingest_token: token };
}

/** A new ingest token for the tenant; the previous one keeps working for `graceSeconds` (0: not at all). */
export async function rotateIngestToken(env: Env, id: string, graceSeconds = TOKEN_GRACE_SECONDS) {
  const tenant = (await getTenant(env.DB, id)) ?? notFound("tenant");
  const token = newIngestToken();
  const previousExpiresAt = graceSeconds > 0 ? Date.now() + graceSeconds * 1000 : null;
  await rotateTenantToken(env.DB, id, await sha256Hex(token), previousExpiresAt);
  forgetTenant(id);
  return {
    ...viewTenant(tenant),
    ingest_token: token,
    previous_token_expires_at: previousExpiresAt === null ? null : new Date(previousExpiresAt).toISOString(),
  };
}

export const tenantRoutes = router()
  .openapi(create, async (c) => c.json(await createTenantWithToken(c.env, c.req.valid("json")), 201))
  .openapi(list, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const after = decodeCursor(cursor, z.object({ id: z.string() }));
    const rows = (await listTenants(c.env.DB, after?.id ?? "", limit + 1)).results;
    return c.json(page(rows, limit, viewTenant, (t) => ({ id: t.id })), 200);
  })
  .openapi(rotate, async (c) => c.json(await rotateIngestToken(c.env, c.req.valid("param").id, c.req.valid("json").grace_seconds), 200));
