import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./app-env";

/** Cloudflare's ray id where there is one, so a support ticket maps to Cloudflare's logs too. */
export const requestId: MiddlewareHandler<AppEnv> = async function requestId(c, next) {
  const id = c.req.header("cf-ray") ?? "req_" + crypto.randomUUID().replace(/-/g, "").slice(0, 24);
  c.set("requestId", id);
  c.header("x-request-id", id);
  await next();
};
