import type { MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "./app-env";

/*
 * No sniffing, no framing, no referrer, and nothing cached anywhere: every
 * answer is either an ingest receipt or admin data. No CORS headers are ever
 * sent, so browsers on other origins cannot read any answer. The rest of
 * secure-headers' defaults (same-origin resource and opener policies and the
 * like) are kept: nothing here is meant to be embedded or opened elsewhere.
 */
const policy: Parameters<typeof secureHeaders>[0] = {
  xFrameOptions: "DENY",
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
};

/*
 * The dashboard and portal pages are HTML: they may load their stylesheet
 * from this origin and post forms to it, and nothing else (no script, no
 * inline style, no other origin, no <base>).
 */
const pagePolicy: Parameters<typeof secureHeaders>[0] = {
  ...policy,
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", "data:"],
    formAction: ["'self'"],
    baseUri: ["'none'"],
    frameAncestors: ["'none'"],
  },
};
const isPage = (path: string) => /^\/(admin|portal)(\/|$)/.test(path) || path === "/dashboard.css";

// HSTS means something only on an answer that came over https; on plain http (npm start) a browser ignores it, and it would be a lie.
const hsts = "max-age=31536000; includeSubDomains";
const overHttps = secureHeaders({ ...policy, strictTransportSecurity: hsts });
const overHttp = secureHeaders({ ...policy, strictTransportSecurity: false });
const pageOverHttps = secureHeaders({ ...pagePolicy, strictTransportSecurity: hsts });
const pageOverHttp = secureHeaders({ ...pagePolicy, strictTransportSecurity: false });

export const securityHeaders: MiddlewareHandler<AppEnv> = async function securityHeaders(c, next) {
  const https = new URL(c.req.url).protocol === "https:";
  const headers = isPage(c.req.path) ? (https ? pageOverHttps : pageOverHttp) : https ? overHttps : overHttp;
  await headers(c, next);
  c.header("cache-control", "no-store");
};
