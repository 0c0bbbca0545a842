import type { MiddlewareHandler } from "hono";
import { secretsEqual } from "../crypto/hash";
import type { AppEnv } from "../http/app-env";
import { RelayError } from "../http/errors";
import { countAuthFailure, refuseBlockedClient } from "../http/rate-limit";

/**
 * Bearer `ADMIN_TOKEN` on every admin call. A Worker deployed without the
 * secret refuses admin calls with 503: it never falls open.
 */
export const adminAuth: MiddlewareHandler<AppEnv> = async function adminAuth(c, next) {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) {
    throw new RelayError("admin_not_configured", "the admin API is disabled until the ADMIN_TOKEN secret is set");
  }
  refuseBlockedClient(c);
  const m = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "");
  if (!m || !(await secretsEqual(m[1]!.trim(), expected))) {
    await countAuthFailure(c);
    throw new RelayError("unauthorized", "missing or invalid admin token");
  }
  await next();
};
