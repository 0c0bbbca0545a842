import { sign, verify } from "hono/jwt";
import type { Env } from "../env";
import { signingKey } from "./keys";

/** A portal link lasts three days unless asked otherwise: long enough to reach a customer's inbox and be opened. */
export const PORTAL_LINK_DEFAULT_SECONDS = 3 * 86_400;
export const PORTAL_LINK_MAX_SECONDS = 30 * 86_400;

/*
 * A portal link is a JWT signed with a key derived from ADMIN_TOKEN: it needs
 * no storage and no migration, and it cannot be forged or widened (tenant,
 * read-only and expiry are all signed). What it gives up is revoking one link
 * alone: links are short-lived, and changing ADMIN_TOKEN voids them all.
 */

export interface PortalGrant {
  tenant: string;
  readOnly: boolean;
  /** Epoch ms. */
  expiresAt: number;
}

export async function issuePortalLink(env: Env, origin: string, grant: PortalGrant): Promise<{ url: string; expires_at: string }> {
  const exp = Math.floor(grant.expiresAt / 1000);
  const token = await sign({ aud: "portal-link", sub: grant.tenant, ro: grant.readOnly, exp }, await signingKey(env, "portal-link"), "HS256");
  return { url: `${origin}/portal/open?token=${encodeURIComponent(token)}`, expires_at: new Date(exp * 1000).toISOString() };
}

/** The grant a link carries, or null when it is forged, expired or not a portal link. */
export async function readPortalLink(env: Env, token: string): Promise<PortalGrant | null> {
  try {
    const claims = await verify(token, await signingKey(env, "portal-link"), { alg: "HS256", aud: "portal-link" });
    if (typeof claims.sub !== "string" || typeof claims.exp !== "number") return null;
    return { tenant: claims.sub, readOnly: claims.ro === true, expiresAt: claims.exp * 1000 };
  } catch {
    return null;
  }
}
