import type { Context } from "hono";
import { digestsEqual, sha256Hex } from "../crypto/hash";
import { getTenantTokens, isTenantId, type TenantTokens } from "../db/tenants";
import { RelayError } from "../http/errors";
import type { AppEnv } from "../http/app-env";
import { limitTenant } from "../http/rate-limit";
import { LruCache } from "./lru-cache";

/**
 * How long an isolate trusts its copy of a tenant's token hashes without
 * asking D1. Keeps D1 off the hot path; a token whose grace period was ended
 * early by a rotation in another isolate can work here for up to this long.
 */
export const TOKEN_CACHE_MS = 60_000;

/**
 * A token the cached hashes refuse makes the isolate ask D1 again before
 * refusing, so that a token rotated in another isolate works here at once;
 * at most once in this long per tenant, so that a flood of wrong tokens cannot
 * turn into a flood of D1 reads.
 */
const RECHECK_MS = 1_000;

const CACHED_TENANTS = 10_000;

interface Cached {
  /** `null`: no such tenant. */
  tokens: TenantTokens | null;
  /** When D1 was last asked. */
  checkedAt: number;
  /** The last read a refused token caused; the refusals that follow within RECHECK_MS share its answer. */
  recheck?: { at: number; result: Promise<Cached> };
}

// Tenants that exist and ids that do not are kept apart, so that junk ids
// (which also need remembering, to keep them off D1) can only push out other
// junk ids, never a real tenant.
const known = new LruCache<string, Cached>(CACHED_TENANTS);
const unknown = new LruCache<string, Cached>(CACHED_TENANTS);

function remember(tenantId: string, entry: Cached): Cached {
  (entry.tokens ? known : unknown).set(tenantId, entry);
  (entry.tokens ? unknown : known).delete(tenantId);
  return entry;
}

async function check(db: D1Database, tenantId: string, now: number, cached: Cached | undefined): Promise<Cached> {
  let tokens: TenantTokens | null;
  try {
    tokens = await getTenantTokens(db, tenantId);
  } catch (err) {
    console.error(JSON.stringify({ level: "error", msg: "tenant lookup failed", error: String(err) }));
    // The Queue, not D1, is where a callback becomes durable: a tenant this
    // isolate knows keeps being served from its last known hashes, and D1 is
    // asked again at the next refusal or when they age out once more.
    if (cached?.tokens) return remember(tenantId, { tokens: cached.tokens, checkedAt: now, recheck: cached.recheck });
    // Otherwise a D1 outage must read as "try again" to AiRudder, never as a bad token.
    throw new RelayError("unavailable", "the relay could not check the token right now; retry later");
  }
  return remember(tenantId, { tokens, checkedAt: now, recheck: cached?.recheck });
}

function accepts(tokens: TenantTokens | null, given: string, now: number): boolean {
  if (!tokens) return false;
  if (digestsEqual(given, tokens.token_hash)) return true;
  return (
    tokens.previous_token_hash !== null &&
    (tokens.previous_token_expires_at ?? 0) > now &&
    digestsEqual(given, tokens.previous_token_hash)
  );
}

async function tokenAccepted(db: D1Database, tenantId: string, given: string, now: number): Promise<boolean> {
  const cached = known.get(tenantId) ?? unknown.get(tenantId);
  if (!cached || now - cached.checkedAt >= TOKEN_CACHE_MS) {
    return accepts((await check(db, tenantId, now, cached)).tokens, given, now);
  }
  if (accepts(cached.tokens, given, now)) return true;
  if (!cached.recheck || now - cached.recheck.at >= RECHECK_MS) {
    cached.recheck = { at: now, result: check(db, tenantId, now, cached) };
  }
  return accepts((await cached.recheck.result).tokens, given, now);
}

/** Forgets a tenant's cached hashes in this isolate (after a rotation made here). */
export function forgetTenant(tenantId: string): void {
  known.delete(tenantId);
  unknown.delete(tenantId);
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
 * the answer tells a prober nothing about which tenants exist. An id no
 * tenant can have is refused before any lookup: it costs no D1 read and
 * takes no cache slot. Failures are not rate limited per address: AiRudder
 * sends every tenant's callbacks from the same few addresses, so callbacks
 * still carrying a rotated token must never block the valid ones (and a
 * 256-bit token cannot be guessed anyway). An authenticated tenant has its
 * own budget.
 */
export async function authenticateTenant(c: Context<AppEnv>, tenantId: string): Promise<void> {
  const token = presentedToken(c);
  if (!token || !isTenantId(tenantId) || !(await tokenAccepted(c.env.DB, tenantId, await sha256Hex(token), Date.now()))) {
    throw new RelayError("unauthorized", "missing or invalid ingest token");
  }
  await limitTenant(c, tenantId);
}
