import { createRoute, z } from "@hono/zod-openapi";
import { issuePortalLink, PORTAL_LINK_DEFAULT_SECONDS, PORTAL_LINK_MAX_SECONDS } from "../dashboard/portal-link";
import { getTenant } from "../db/tenants";
import { errors, jsonContent, notFound, router, security } from "./router";

const body = z
  .strictObject({
    expires_in_seconds: z
      .int()
      .min(60)
      .max(PORTAL_LINK_MAX_SECONDS)
      .optional()
      .openapi({ description: `how long the link opens the portal (default ${PORTAL_LINK_DEFAULT_SECONDS} s, three days; at most 30 days)` }),
    read_only: z.boolean().optional().openapi({ description: "the portal shows but changes nothing (default false)" }),
  })
  .openapi("PortalLinkRequest");

const route = createRoute({
  method: "post",
  path: "/v1/admin/tenants/{id}/portal-link",
  operationId: "createPortalLink",
  tags: ["Tenants"],
  summary: "A link that opens the tenant portal for this tenant only",
  description:
    "The link opens a browser session scoped to this tenant: its events, deliveries and destinations (adding, editing, pausing, " +
    "testing and rotating secrets unless `read_only`), and nothing of any other tenant, of the operator's pages or of this API. " +
    "It is signed, not stored: it cannot be widened, it opens nothing once expired, and changing ADMIN_TOKEN voids every link. The body may be left out.",
  security,
  request: {
    params: z.object({ id: z.string() }),
    body: { content: { "application/json": { schema: body } }, required: false },
  },
  responses: {
    201: jsonContent(z.object({ url: z.string(), expires_at: z.string() }).openapi("PortalLink"), "the link and when it stops opening the portal"),
    ...errors,
  },
});

export const portalLinkRoutes = router().openapi(route, async (c) => {
  const tenant = (await getTenant(c.env.DB, c.req.valid("param").id)) ?? notFound("tenant");
  const { expires_in_seconds, read_only } = c.req.valid("json");
  const expiresAt = Date.now() + (expires_in_seconds ?? PORTAL_LINK_DEFAULT_SECONDS) * 1000;
  return c.json(await issuePortalLink(c.env, new URL(c.req.url).origin, { tenant: tenant.id, readOnly: read_only ?? false, expiresAt }), 201);
});
