import type { Context, ErrorHandler, MiddlewareHandler } from "hono";
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import { timingSafeEqual } from "hono/utils/buffer";
import { RelayError } from "../http/errors";
import { field, type FormFields } from "./forms";
import { ErrorPage } from "./pages/misc";
import type { DashboardEnv, Scope } from "./scope";

/** The submitted form, read once (hono keeps it for later readers). */
export const formOf = (c: Context<DashboardEnv>) => c.req.parseBody({ all: true }) as Promise<FormFields>;

/**
 * Two locks on every form post. hono/csrf refuses a form whose Origin (or
 * Sec-Fetch-Site) is not this site; the per-session token refuses a form the
 * session's own pages did not draw, should an Origin check ever be bypassed
 * (an old browser, a proxy that strips the header). Either answers 403.
 * SameSite=Strict cookies are a third: a cross-site post carries no session.
 */
export const originCheck: MiddlewareHandler<DashboardEnv> = csrf();

export const checkForm: MiddlewareHandler<DashboardEnv> = async function checkForm(c, next) {
  await originCheck(c, async () => {
    if (c.req.method === "POST") {
      const sent = field(await formOf(c), "_csrf");
      if (!sent || !(await timingSafeEqual(sent, c.get("scope").csrf))) {
        throw new RelayError("forbidden", "this form is out of date or was not drawn by this site; reload the page and try again");
      }
    }
    await next();
  });
};

/** Errors on the pages are pages too, with the status the error module gives their code. */
export const pageError: ErrorHandler<DashboardEnv> = (err, c) => {
  let relay: RelayError;
  if (err instanceof RelayError) relay = err;
  else if (err instanceof HTTPException && err.status === 403) relay = new RelayError("forbidden", "this form was not sent from this site");
  else {
    console.error(JSON.stringify({ level: "error", msg: "unhandled dashboard error", request_id: c.get("requestId"), error: err instanceof Error ? err.name + ": " + err.message : "unknown" }));
    relay = new RelayError("internal", "internal error");
  }
  if (relay.extra.retryAfterSeconds !== undefined) c.header("retry-after", String(relay.extra.retryAfterSeconds));
  const scope: Scope | null = c.get("scope") ?? null;
  return c.html(<ErrorPage scope={scope} status={relay.status} message={relay.message} issues={relay.extra.issues} requestId={c.get("requestId")} />, relay.status);
};

/** Short confirmations after an action, by code, so that a link cannot put words on the page. */
const notices: Record<string, (n: string) => string> = {
  replayed: (n) => `Replay queued (${n} deliveries).`,
  retried: () => "Retry queued.",
  recovered: (n) => `Recovery queued (${n} deliveries).`,
  saved: () => "Destination saved.",
  paused: () => "Destination paused: new deliveries wait as held.",
  resumed: () => "Destination resumed: held deliveries are being sent in order.",
  deleted: () => "Destination deleted.",
  "quarantine-replayed": () => "The body now passes and was accepted.",
  "handed-back": () => "The next sweep hands it back to its queue.",
};

export function noticeOf(c: Context<DashboardEnv>): string | null {
  const text = notices[c.req.query("notice") ?? ""];
  return text ? text(String(Number(c.req.query("n") ?? 0) || 0)) : null;
}

export const done = (c: Context<DashboardEnv>, path: string, notice: keyof typeof notices, n?: number) =>
  c.redirect(`${path}${path.includes("?") ? "&" : "?"}notice=${notice}${n === undefined ? "" : `&n=${n}`}`, 303);
