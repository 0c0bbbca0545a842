import type { Context, MiddlewareHandler } from "hono";
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
  /**
   * Tokens already found to hash to one of `tokens`' hashes, by that hash.
   * The same token on the next callback is compared with it in constant time
   * instead of being hashed again: AiRudder sends every callback of a tenant
   * with the same token, so the warm path hashes nothing.
   */
  verified: Map<string, Uint8Array>;
}

// Tenants that exist and ids that do not are kept apart, so that junk ids
// (which also need remembering, to keep them off D1) can only push out other
// junk ids, never a real tenant.
const known = new LruCache<string, Cached>(CACHED_TENANTS);
const unknown = new LruCache<string, Cached>(CACHED_TENANTS);

/** The hashes a token may match now: the current one, and the previous one until it expires. */
function liveHashes(tokens: TenantTokens | null, now: number): string[] {
  if (!tokens) return [];
  const live = [tokens.token_hash];
  if (tokens.previous_token_hash !== null && (tokens.previous_token_expires_at ?? 0) > now) live.push(tokens.previous_token_hash);
  return live;
}

function remember(tenantId: string, tokens: TenantTokens | null, now: number, cached: Cached | undefined): Cached {
  // What was verified against a hash the tenant still has stays verified; a rotated-away hash takes its token with it.
  const verified = new Map<string, Uint8Array>();
  for (const hash of liveHashes(tokens, now)) {
    const token = cached?.verified.get(hash);
    if (token) verified.set(hash, token);
  }
  const entry: Cached = { tokens, checkedAt: now, recheck: cached?.recheck, verified };
  (tokens ? known : unknown).set(tenantId, entry);
  (tokens ? unknown : known).delete(tenantId);
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
    if (cached?.tokens) return remember(tenantId, cached.tokens, now, cached);
    // Otherwise a D1 outage must read as "try again" to AiRudder, never as a bad token.
    throw new RelayError("unavailable", "the relay could not check the token right now; retry later");
  }
  return remember(tenantId, tokens, now, cached);
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.byteLength === b.byteLength && crypto.subtle.timingSafeEqual(a, b);

/** One presented token: its bytes, and its hash once something needed it (at most once a request). */
class Presented {
  private hash?: Promise<string>;
  constructor(readonly bytes: Uint8Array) {}
  hashed(): Promise<string> {
    return (this.hash ??= sha256Hex(this.bytes));
  }
}

function verifiedBefore(entry: Cached, given: Presented, live: string[]): boolean {
  return live.some((hash) => {
    const token = entry.verified.get(hash);
    return token !== undefined && sameBytes(token, given.bytes);
  });
}

async function accepts(entry: Cached, given: Presented, now: number): Promise<boolean> {
  const live = liveHashes(entry.tokens, now);
  if (verifiedBefore(entry, given, live)) return true;
  if (live.length === 0) return false;
  const hash = await given.hashed();
  const match = live.find((h) => digestsEqual(hash, h));
  if (match === undefined) return false;
  entry.verified.set(match, given.bytes);
  return true;
}

async function tokenAccepted(db: D1Database, tenantId: string, given: Presented, now: number): Promise<boolean> {
  const cached = known.get(tenantId) ?? unknown.get(tenantId);
  if (!cached || now - cached.checkedAt >= TOKEN_CACHE_MS) {
    return accepts(await check(db, tenantId, now, cached), given, now);
  }
  if (await accepts(cached, given, now)) return true;
  if (!cached.recheck || now - cached.recheck.at >= RECHECK_MS) {
    cached.recheck = { at: now, result: check(db, tenantId, now, cached) };
  }
  return accepts(await cached.recheck.result, given, now);
}

/** Forgets a tenant's cached hashes (and the tokens verified against them) in this isolate, after a rotation made here. */
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

const encoder = new TextEncoder();

/**
 * Unknown tenant, missing token and wrong token all answer the same 401, so
 * the answer tells a prober nothing about which tenants exist. An id no
 * tenant can have is refused before any lookup: it costs no D1 read and
 * takes no cache slot. Failures are not rate limited per address: AiRudder
 * sends every tenant's callbacks from the same few addresses, so callbacks
 * still carrying a rotated token must never block the valid ones (and a
 * 256-bit token cannot be guessed anyway).
 */
export async function authenticateTenant(c: Context<AppEnv>, tenantId: string): Promise<void> {
  const token = presentedToken(c);
  if (!token || !isTenantId(tenantId) || !(await tokenAccepted(c.env.DB, tenantId, new Presented(encoder.encode(token)), Date.now()))) {
    throw new RelayError("unauthorized", "missing or invalid ingest token");
  }
}

/** The ingest route's first step: the tenant's token, then the tenant's own budget (src/http/rate-limit.ts), before anything is read. */
export const tenantAuth: MiddlewareHandler<AppEnv, "/v1/callbacks/:tenant/:kind"> = async function tenantAuth(c, next) {
  const tenant = c.req.param("tenant");
  await authenticateTenant(c, tenant);
  await limitTenant(c, tenant);
  await next();
};
