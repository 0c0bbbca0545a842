import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./app-env";

/**
 * No sniffing, no framing, no referrer, and nothing cached anywhere: every
 * answer is either an ingest receipt or admin data. No CORS headers are ever
 * sent, so browsers on other origins cannot read any answer.
 */
export const securityHeaders: MiddlewareHandler<AppEnv> = async function securityHeaders(c, next) {
  await next();
  c.header("x-content-type-options", "nosniff");
  c.header("x-frame-options", "DENY");
  c.header("referrer-policy", "no-referrer");
  c.header("cache-control", "no-store");
  c.header("content-security-policy", "default-src 'none'; frame-ancestors 'none'");
};
