import type { Context, MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { timingSafeEqual } from "hono/utils/buffer";
import type { AppEnv } from "../http/app-env";
import { RelayError } from "../http/errors";
import { countAuthFailure, refuseBlockedClient } from "../http/rate-limit";

/**
 * Every way of failing answers the same 401 in the house shape (hono's own
 * answers are a 400 for a malformed header and plain text), and counts
 * against the client's failed-authentication budget.
 */
async function refuse(c: Context<AppEnv>): Promise<never> {
  await countAuthFailure(c);
  throw new RelayError("unauthorized", "missing or invalid admin token");
}

/** RFC 6750's token characters: all hono/bearer-auth lets through, so any other ADMIN_TOKEN could never be sent. */
const BEARER_TOKEN = /^[A-Za-z0-9._~+/-]+=*$/;

const bearer = bearerAuth({
  verifyToken: (token, c: Context<AppEnv>) => timingSafeEqual(token, c.env.ADMIN_TOKEN ?? ""),
  noAuthenticationHeader: { message: refuse },
  invalidAuthenticationHeader: { message: refuse },
  invalidToken: { message: refuse },
});

/**
 * Bearer `ADMIN_TOKEN` on every admin call (hono/bearer-auth, compared in
 * constant time). A Worker deployed without the secret refuses admin calls
 * with 503: it never falls open.
 */
export const adminAuth: MiddlewareHandler<AppEnv> = async function adminAuth(c, next) {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) {
    throw new RelayError("admin_not_configured", "the admin API is disabled until the ADMIN_TOKEN secret is set");
  }
  if (!BEARER_TOKEN.test(expected)) {
    throw new RelayError("admin_not_configured", "ADMIN_TOKEN must be made of letters, digits and - . _ ~ + / to be sent as a bearer token");
  }
  refuseBlockedClient(c);
  await bearer(c, next);
};
