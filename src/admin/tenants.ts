import { createRoute, z } from "@hono/zod-openapi";
import { randomToken, sha256Hex } from "../crypto/hash";
import { getTenant, insertTenant, listTenants, updateTenantToken } from "../db/tenants";
import { RelayError } from "../http/errors";
import { forgetTenant } from "../ingest/tenant-auth";
import { decodeCursor, listQuery, page, pageSchema } from "./pagination";
import { errors, jsonBody, jsonContent, notFound, router, security } from "./router";
import { errorSchema, tenantSchema, viewTenant } from "./views";

const tenantId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "lower-case letters, digits, - and _, at most 63 characters")
  .openapi({ example: "acme" });

const createdTenant = tenantSchema
  .extend({ ingest_token: z.string().openapi({ description: "shown once; only its hash is stored" }) })
  .openapi("TenantWithToken");

const create = createRoute({
  method: "post",
  path: "/v1/admin/tenants",
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
  security,
  request: { query: z.object(listQuery) },
  responses: { 200: jsonContent(pageSchema(tenantSchema), "tenants by id"), ...errors },
});

const rotate = createRoute({
  method: "post",
  path: "/v1/admin/tenants/{id}/rotate-token",
  security,
  request: { params: z.object({ id: z.string() }) },
  responses: {
    200: jsonContent(createdTenant, "the new ingest token; the old one stops working within 60 s"),
    ...errors,
  },
});

const newIngestToken = () => randomToken("rit_");

export const tenantRoutes = router()
  .openapi(create, async (c) => {
    const { id, name } = c.req.valid("json");
    const token = newIngestToken();
    const now = Date.now();
    const result = await insertTenant(c.env.DB, { id, name: name ?? id, token_hash: await sha256Hex(token), created_at: now });
    if (result.meta.changes === 0) throw new RelayError("conflict", `tenant ${id} exists`);
    return c.json({ ...viewTenant({ id, name: name ?? id, created_at: now }), ingest_token: token }, 201);
  })
  .openapi(list, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const after = decodeCursor(cursor, z.object({ id: z.string() }));
    const rows = (await listTenants(c.env.DB, after?.id ?? "", limit + 1)).results;
    return c.json(page(rows, limit, viewTenant, (t) => ({ id: t.id })), 200);
  })
  .openapi(rotate, async (c) => {
    const { id } = c.req.valid("param");
    const tenant = (await getTenant(c.env.DB, id)) ?? notFound("tenant");
    const token = newIngestToken();
    await updateTenantToken(c.env.DB, id, await sha256Hex(token));
    forgetTenant(id);
    return c.json({ ...viewTenant(tenant), ingest_token: token }, 200);
  });
