import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { sign, verify } from "hono/jwt";
import { randomToken } from "../crypto/hash";
import type { AppEnv } from "../http/app-env";
import { signingKey } from "./keys";

/** Who is signed in: the operator, or one tenant through a portal link. */
export type Session =
  | { kind: "operator"; csrf: string; exp: number }
  | { kind: "tenant"; tenant: string; readOnly: boolean; csrf: string; exp: number };

/** An operator session lasts a working day; a portal session never outlives its link. */
export const OPERATOR_SESSION_SECONDS = 12 * 3600;
export const PORTAL_SESSION_MAX_SECONDS = 12 * 3600;

/*
 * Each area has its own cookie, scoped to its path, so that a browser holding
 * both sends the operator's only to /admin and the tenant's only to /portal.
 * The value is a JWT (HS256, hono/jwt) with its own expiry: nothing is stored.
 */
const areas = {
  operator: { cookie: "relay_admin", path: "/admin", purpose: "operator-session" },
  tenant: { cookie: "relay_portal", path: "/portal", purpose: "portal-session" },
} as const;

const overHttps = <E extends AppEnv>(c: Context<E>) => new URL(c.req.url).protocol === "https:";

/** Starts a session: a fresh CSRF token, and a cookie that is HttpOnly, SameSite=Strict, Secure on https and expires with the session. */
export async function startSession<E extends AppEnv>(
  c: Context<E>,
  who: { kind: "operator" } | { kind: "tenant"; tenant: string; readOnly: boolean },
  expiresAt: number,
): Promise<void> {
  const area = areas[who.kind];
  const exp = Math.floor(expiresAt / 1000);
  const claims = who.kind === "operator" ? { aud: area.purpose, exp, csrf: randomToken("") } : { aud: area.purpose, exp, csrf: randomToken(""), sub: who.tenant, ro: who.readOnly };
  const jwt = await sign(claims, await signingKey(c.env, area.purpose), "HS256");
  setCookie(c, area.cookie, jwt, {
    path: area.path,
    httpOnly: true,
    sameSite: "Strict",
    secure: overHttps(c),
    expires: new Date(exp * 1000),
  });
}

/** The session of `kind` this request carries, or null when there is none, it is forged or it has expired. */
export async function readSession<E extends AppEnv>(c: Context<E>, kind: Session["kind"]): Promise<Session | null> {
  const area = areas[kind];
  const jwt = getCookie(c, area.cookie);
  if (!jwt) return null;
  try {
    const claims = await verify(jwt, await signingKey(c.env, area.purpose), { alg: "HS256", aud: area.purpose });
    const exp = Number(claims.exp);
    const csrf = String(claims.csrf);
    if (kind === "operator") return { kind, csrf, exp };
    return typeof claims.sub === "string" ? { kind, tenant: claims.sub, readOnly: claims.ro === true, csrf, exp } : null;
  } catch {
    return null;
  }
}

export function endSession<E extends AppEnv>(c: Context<E>, kind: Session["kind"]): void {
  const area = areas[kind];
  deleteCookie(c, area.cookie, { path: area.path, httpOnly: true, sameSite: "Strict", secure: overHttps(c) });
}
