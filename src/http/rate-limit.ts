import type { Context } from "hono";
import type { AppEnv } from "./app-env";
import { RelayError } from "./errors";

/** Both limiters count per period of this many seconds (wrangler.toml); a refused caller waits that long. */
const PERIOD_SECONDS = { ingest: 10, authFailure: 60 } as const;

/**
 * Clients over their failed-authentication budget, remembered in this
 * isolate so that they are refused before any token is even compared.
 */
const blockedUntil = new Map<string, number>();

function clientIp(c: Context<AppEnv>): string {
  return c.req.header("cf-connecting-ip") ?? "unknown";
}

function tooMany(seconds: number): RelayError {
  return new RelayError("rate_limited", "too many requests; slow down", { retryAfterSeconds: seconds });
}

/** Refuses a client that has failed admin authentication too often lately. */
export function refuseBlockedClient(c: Context<AppEnv>): void {
  const ip = clientIp(c);
  const until = blockedUntil.get(ip);
  if (until === undefined) return;
  const now = Date.now();
  if (until > now) throw tooMany(Math.ceil((until - now) / 1000));
  blockedUntil.delete(ip);
}

/**
 * Counts a failed authentication; past the budget the client is blocked for
 * one period and this failure is already answered 429 rather than 401.
 */
export async function countAuthFailure(c: Context<AppEnv>): Promise<void> {
  const ip = clientIp(c);
  const { success } = await c.env.ADMIN_AUTH_LIMITER.limit({ key: ip });
  if (!success) {
    if (blockedUntil.size > 10_000) blockedUntil.clear();
    blockedUntil.set(ip, Date.now() + PERIOD_SECONDS.authFailure * 1000);
    throw tooMany(PERIOD_SECONDS.authFailure);
  }
}

/**
 * One ingest request in this many (per tenant, per isolate) consults the
 * Rate Limiting binding; `INGEST_LIMITER`'s limit in wrangler.toml is counted
 * in these samples. The binding is a call out of the isolate: locally each
 * call is a Durable Object request and a SQLite write, and at one callback in
 * ten those took a seventh of the relay's CPU per callback (`npm run bench`).
 * Abuse is volume: 100 samples in a 10 s period still see 10,000 callbacks.
 */
export const INGEST_LIMIT_SAMPLE = 100;

const tenantWindows = new Map<string, { seen: number; blockedUntil: number }>();

/** The per-tenant ingest budget. */
export async function limitTenant(c: Context<AppEnv>, tenantId: string): Promise<void> {
  const now = Date.now();
  let window = tenantWindows.get(tenantId);
  if (!window) {
    if (tenantWindows.size > 10_000) tenantWindows.clear();
    window = { seen: 0, blockedUntil: 0 };
    tenantWindows.set(tenantId, window);
  }
  if (window.blockedUntil > now) throw tooMany(Math.ceil((window.blockedUntil - now) / 1000));
  if (window.seen++ % INGEST_LIMIT_SAMPLE !== 0) return;
  const { success } = await c.env.INGEST_LIMITER.limit({ key: tenantId });
  if (!success) {
    window.blockedUntil = now + PERIOD_SECONDS.ingest * 1000;
    throw tooMany(PERIOD_SECONDS.ingest);
  }
}
