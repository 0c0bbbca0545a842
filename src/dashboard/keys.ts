import type { Env } from "../env";
import { RelayError } from "../http/errors";

/** What a derived key signs; each purpose has its own key, so a session cookie never passes for a portal link or the other way round. */
export type KeyPurpose = "operator-session" | "portal-session" | "portal-link";

const derived = new Map<string, Promise<string>>();

/**
 * A signing key for `purpose`, derived from ADMIN_TOKEN (HMAC-SHA256 of the
 * purpose's name): no new secret to provision, and changing ADMIN_TOKEN signs
 * every operator out and voids every portal link and portal session at once,
 * the one lever an operator needs after a leak. Without ADMIN_TOKEN the
 * dashboard is closed, as the admin API is.
 */
export function signingKey(env: Env, purpose: KeyPurpose): Promise<string> {
  const token = env.ADMIN_TOKEN;
  if (!token) throw new RelayError("admin_not_configured", "the dashboard is disabled until the ADMIN_TOKEN secret is set");
  const cacheKey = `${purpose}\u0000${token}`;
  let key = derived.get(cacheKey);
  if (!key) {
    key = (async () => {
      const hmac = await crypto.subtle.importKey("raw", new TextEncoder().encode(token), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const mac = await crypto.subtle.sign("HMAC", hmac, new TextEncoder().encode(`airudder-relay dashboard ${purpose}`));
      return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
    })();
    if (derived.size > 100) derived.clear();
    derived.set(cacheKey, key);
  }
  return key;
}
