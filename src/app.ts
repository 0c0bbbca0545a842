import { OpenAPIHono } from "@hono/zod-openapi";
import { methodNotAllowed } from "hono/method-not-allowed";
import { requestId } from "hono/request-id";
import { adminAuth } from "./admin/auth";
import { adminBodyLimit } from "./admin/body-limit";
import { deliveryRoutes } from "./admin/deliveries";
import { destinationTestRoutes } from "./admin/destination-test";
import { destinationRoutes } from "./admin/destinations";
import { eventRoutes } from "./admin/events";
import { portalLinkRoutes } from "./admin/portal-link";
import { privacyRoutes } from "./admin/privacy";
import { quarantineRoutes } from "./admin/quarantine";
import { statsRoutes } from "./admin/stats";
import { tenantRoutes } from "./admin/tenants";
import { dashboardStylesheet, operatorPages, portalPages } from "./dashboard";
import type { AppEnv } from "./http/app-env";
import { onError, onMethodNotAllowed, onNotFound } from "./http/errors";
import { securityHeaders } from "./http/security-headers";
import { registerWebhookDocs } from "./delivery/openapi";
import { registerIngestDocs } from "./ingest/openapi";
import { ingestRoutes } from "./ingest/route";
import { degraded } from "./storage/outage";

export function buildApp() {
  const app = new OpenAPIHono<AppEnv>();
  // A caller's own X-Request-Id is kept when it is plain and short (hono/request-id checks it), so an integrator can find
  // its request in the logs; else Cloudflare's ray id where there is one, so a support ticket maps to Cloudflare's logs too.
  const requestIds = requestId({ limitLength: 64, generator: (c) => c.req.header("cf-ray") ?? "req_" + crypto.randomUUID().replace(/-/g, "").slice(0, 24) });
  app.use("*", requestIds, securityHeaders, methodNotAllowed({ app, onMethodNotAllowed }));
  app.use("/v1/admin/*", adminAuth, adminBodyLimit);
  // 200 while ingest can take callbacks (it needs the Queue, not D1); says what is degraded.
  app.get("/healthz", async (c) => c.json({ ok: true, degraded: await degraded(c.env) }));
  app.route("/", ingestRoutes);
  for (const routes of [tenantRoutes, portalLinkRoutes, destinationRoutes, destinationTestRoutes, eventRoutes, deliveryRoutes, quarantineRoutes, statsRoutes, privacyRoutes]) {
    app.route("/", routes);
  }
  // The operator's dashboard and the tenant portal: HTML pages with sessions of their own, never the admin API's bearer token.
  app.get("/dashboard.css", dashboardStylesheet);
  app.route("/", operatorPages);
  app.route("/", portalPages);
  app.openAPIRegistry.registerComponent("securitySchemes", "adminBearer", { type: "http", scheme: "bearer" });
  registerIngestDocs(app.openAPIRegistry);
  registerWebhookDocs(app.openAPIRegistry);
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "airudder-relay",
      version: "0.1.0",
      description:
        "Takes AiRudder callbacks, stores each once, and delivers signed events (Standard Webhooks) to every CRM a tenant configured. " +
        "A path asked with a method it does not serve answers 405 method_not_allowed with an Allow header. " +
        "`webhooks` describes what the relay sends: to each destination, and to ALERT_WEBHOOK_URL.",
    },
    servers: [
      { url: "http://127.0.0.1:8787", description: "local: `npm start` (PORT, default 8787)" },
      {
        url: "https://{worker}.{subdomain}.workers.dev",
        description: "deployed with `wrangler deploy` (or your route / custom domain)",
        variables: { worker: { default: "airudder-relay" }, subdomain: { default: "your-subdomain" } },
      },
    ],
    tags: [
      { name: "Ingest", description: "AiRudder → relay: one URL per callback kind, authenticated by the tenant's ingest token" },
      { name: "Tenants", description: "tenants and their ingest tokens" },
      { name: "Destinations", description: "the CRM webhooks a tenant's events go to" },
      { name: "Events", description: "stored callbacks, and replay" },
      { name: "Deliveries", description: "one event to one destination, with every attempt" },
      { name: "Quarantine", description: "callbacks refused by their schema, kept raw" },
      { name: "Stats", description: "hourly counts" },
      { name: "Privacy", description: "erasing a phone number" },
      { name: "Health", description: "whether ingest can take callbacks" },
      { name: "Outbound events", description: "relay → CRM: what each destination receives (webhooks)" },
      { name: "Operational alerts", description: "relay → ALERT_WEBHOOK_URL (webhooks)" },
    ],
  });
  app.onError(onError);
  app.notFound(onNotFound);
  return app;
}
