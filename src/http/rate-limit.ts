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

/** The per-tenant ingest budget. */
export async function limitTenant(c: Context<AppEnv>, tenantId: string): Promise<void> {
  const { success } = await c.env.INGEST_LIMITER.limit({ key: tenantId });
  if (!success) throw tooMany(PERIOD_SECONDS.ingest);
}
