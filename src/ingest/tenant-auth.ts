import type { Context } from "hono";
import { digestsEqual, sha256Hex } from "../crypto/hash";
import { getTenantTokenHash } from "../db/tenants";
import { RelayError } from "../http/errors";
import type { AppEnv } from "../http/app-env";
import { limitTenant } from "../http/rate-limit";

/**
 * How long an isolate trusts its copy of a tenant's token hash. Keeps D1 off
 * the hot path; a rotated token stops working within this time.
 */
export const TOKEN_CACHE_MS = 60_000;

/** Unknown tenants are remembered too, so that junk traffic cannot flood D1. */
const cache = new Map<string, { hash: string | null; expires: number }>();
const MAX_CACHED = 10_000;

async function tokenHashOf(db: D1Database, tenantId: string, now: number): Promise<string | null> {
  const hit = cache.get(tenantId);
  if (hit && hit.expires > now) return hit.hash;
  let row: { token_hash: string } | null;
  try {
    row = await getTenantTokenHash(db, tenantId);
  } catch (err) {
    // A D1 outage must read as "try again" to AiRudder, never as a bad token.
    console.error(JSON.stringify({ level: "error", msg: "tenant lookup failed", error: String(err) }));
    throw new RelayError("unavailable", "the relay could not check the token right now; retry later");
  }
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(tenantId, { hash: row?.token_hash ?? null, expires: now + TOKEN_CACHE_MS });
  return row?.token_hash ?? null;
}

/** Forgets a tenant's cached hash in this isolate (after a rotation made here). */
export function forgetTenant(tenantId: string): void {
  cache.delete(tenantId);
}

function presentedToken(c: Context<AppEnv>): string | null {
  const header = c.req.header("authorization");
  if (header) {
    const m = /^Bearer\s+(.+)$/i.exec(header);
    return m ? m[1]!.trim() : null;
  }
  return c.req.query("token") ?? null;
}

/**
 * Unknown tenant, missing token and wrong token all answer the same 401, so
 * the answer tells a prober nothing about which tenants exist. Failures are
 * not rate limited per address: AiRudder sends every tenant's callbacks from
 * the same few addresses, so callbacks still carrying a rotated token must
 * never block the valid ones (and a 256-bit token cannot be guessed anyway).
 * An authenticated tenant has its own budget.
 */
export async function authenticateTenant(c: Context<AppEnv>, tenantId: string): Promise<void> {
  const token = presentedToken(c);
  const [expected, given] = await Promise.all([
    tokenHashOf(c.env.DB, tenantId, Date.now()),
    sha256Hex(token ?? ""),
  ]);
  if (!token || !expected || !digestsEqual(given, expected)) {
    throw new RelayError("unauthorized", "missing or invalid ingest token");
  }
  await limitTenant(c, tenantId);
}
