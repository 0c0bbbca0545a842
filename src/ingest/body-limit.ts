import type { MiddlewareHandler } from "hono";
import { config } from "../env";
import type { AppEnv } from "../http/app-env";
import { houseBodyLimit } from "../http/body-limit";

// MAX_BODY_BYTES is a var, so the limit is known per env; one middleware per value.
const byMaxSize = new Map<number, MiddlewareHandler<AppEnv>>();

/** `MAX_BODY_BYTES` for a callback body, before any of it is read whole. */
export const ingestBodyLimit: MiddlewareHandler<AppEnv> = function ingestBodyLimit(c, next) {
  const maxSize = config(c.env).MAX_BODY_BYTES;
  let limit = byMaxSize.get(maxSize);
  if (!limit) byMaxSize.set(maxSize, (limit = houseBodyLimit(maxSize, "the body is")));
  return limit(c, next);
};
