import type { MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "./app-env";

type Policy = NonNullable<Parameters<typeof secureHeaders>[0]>;

/*
 * JSON answers (ingest receipts, the admin API, errors) carry what means
 * something to a client of an API (OWASP's REST security cheat sheet): no
 * sniffing, no framing, a content security policy that allows nothing, and
 * resources for this origin only. The headers that only shape how a browser
 * treats a page it renders are left to the pages: every header is work on
 * every callback, twice over (set here, then sent). No CORS headers are ever
 * sent, so browsers on other origins cannot read any answer.
 */
const apiPolicy: Policy = {
  xFrameOptions: "DENY",
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  referrerPolicy: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
};

/*
 * The dashboard and portal pages are HTML: all of secure-headers' defaults
 * (no referrer, same-origin opener, …), and a policy that lets them load
 * their stylesheet from this origin and post forms to it, and nothing else
 * (no script, no inline style, no other origin, no <base>).
 */
const pagePolicy: Policy = {
  xFrameOptions: "DENY",
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
const apiOverHttps = secureHeaders({ ...apiPolicy, strictTransportSecurity: hsts });
const apiOverHttp = secureHeaders({ ...apiPolicy, strictTransportSecurity: false });
const pageOverHttps = secureHeaders({ ...pagePolicy, strictTransportSecurity: hsts });
const pageOverHttp = secureHeaders({ ...pagePolicy, strictTransportSecurity: false });

/** Nothing is cached anywhere: every answer is an ingest receipt, admin data or a page behind a session. */
export const securityHeaders: MiddlewareHandler<AppEnv> = async function securityHeaders(c, next) {
  const https = c.req.url.startsWith("https:");
  const headers = isPage(c.req.path) ? (https ? pageOverHttps : pageOverHttp) : https ? apiOverHttps : apiOverHttp;
  await headers(c, next);
  // On the answer itself, as secure-headers does: c.header() after the handler would copy the whole Response.
  c.res.headers.set("cache-control", "no-store");
};
