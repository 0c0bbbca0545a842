import { Hono, type Context } from "hono";
import { timingSafeEqual } from "hono/utils/buffer";
import type { AppEnv } from "../http/app-env";
import { z } from "zod";
import { addDestination, destinationView } from "../admin/destinations";
import { decodeCursor, encodeCursor } from "../admin/pagination";
import { replayQuarantined } from "../admin/quarantine";
import { createTenantWithToken, rotateIngestToken } from "../admin/tenants";
import { listDestinations, pausedDestinations } from "../db/destinations";
import { countDeadLetters, listDeadLetters } from "../db/dead-letters";
import { getQuarantine, listQuarantine } from "../db/quarantine";
import { getTenant, listTenants } from "../db/tenants";
import { RelayError } from "../http/errors";
import { countAuthFailure, refuseBlockedClient } from "../http/rate-limit";
import { handBackAgain } from "../maintenance/redrive";
import { heldAndDead } from "../query/deliveries";
import { hourlyCounts } from "../query/stats";
import { destinationToCreate, field } from "./forms";
import { checkForm, done, formOf, noticeOf, originCheck, pageError } from "./guard";
import { Page } from "./layout";
import { DestinationList } from "./pages/destinations";
import { DeadLettersPage } from "./pages/dead-letters";
import { Closed, ShownOnce, SignIn } from "./pages/misc";
import { OverviewPage, type Range } from "./pages/overview";
import { QuarantinedPage, QuarantinePage } from "./pages/quarantine";
import { TenantActions, TenantsPage } from "./pages/tenants";
import { issuePortalLink } from "./portal-link";
import { endSession, OPERATOR_SESSION_SECONDS, readSession, startSession } from "./session";
import { registerSharedRoutes } from "./shared-routes";
import type { DashboardEnv } from "./scope";

const HOUR = 3_600_000;

/** The operator's pages under /admin: sign-in, then everything, for every tenant. */
export const operatorPages = new Hono<DashboardEnv>();
operatorPages.onError(pageError);

// The failed-sign-in limiter is the admin API's own; it reads only the request.
const appContext = (c: Context<DashboardEnv>) => c as unknown as Context<AppEnv>;

const closed = () => <Closed title="Dashboard closed" message="The dashboard is disabled until the ADMIN_TOKEN secret is set." />;

// Sign-in and its form are the only pages without a session; hono/csrf still checks the form's Origin (no login CSRF).
operatorPages.post("/admin/sign-in", originCheck, async (c) => {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) return c.html(closed(), 503);
  refuseBlockedClient(appContext(c));
  const token = field(await formOf(c), "token");
  if (!token || !(await timingSafeEqual(token, expected))) {
    await countAuthFailure(appContext(c));
    return c.html(<SignIn failed />, 401);
  }
  await startSession(c, { kind: "operator" }, Date.now() + OPERATOR_SESSION_SECONDS * 1000);
  return c.redirect("/admin", 303);
});

/** Nothing past this point is shown without an operator session: a page asks to sign in, a form post is refused. */
operatorPages.use("/admin/*", async (c, next) => {
  if (!c.env.ADMIN_TOKEN) return c.html(closed(), 503);
  const session = await readSession(c, "operator");
  if (!session || session.kind !== "operator") {
    if (c.req.method === "GET" && (c.req.path === "/admin" || c.req.path === "/admin/")) return c.html(<SignIn />, 200);
    if (c.req.method === "GET") return c.redirect("/admin", 303);
    throw new RelayError("unauthorized", "your session has ended; sign in again");
  }
  c.set("scope", { kind: "operator", base: "/admin", csrf: session.csrf });
  await next();
});
operatorPages.use("/admin/*", checkForm);

operatorPages.post("/admin/sign-out", (c) => {
  endSession(c, "operator");
  return c.redirect("/admin", 303);
});

operatorPages.get("/admin", async (c) => {
  const range: Range = c.req.query("range") === "7d" ? "7d" : "24h";
  const until = Date.now();
  const since = until - (range === "7d" ? 7 * 24 : 24) * HOUR + HOUR;
  const [counts, waiting, paused, deadLetters] = await Promise.all([
    hourlyCounts(c.env, null, since - (since % HOUR), until),
    heldAndDead(c.env, null),
    pausedDestinations(c.env.DB, null),
    countDeadLetters(c.env.DB),
  ]);
  return c.html(
    <OverviewPage
      scope={c.get("scope")}
      range={range}
      since={since}
      until={until}
      counts={counts}
      held={waiting.held}
      dead={waiting.dead}
      paused={paused.results}
      deadLetters={deadLetters ?? 0}
    />,
  );
});

operatorPages.get("/admin/tenants", async (c) => {
  const after = decodeCursor(c.req.query("cursor"), z.object({ id: z.string() }));
  const rows = (await listTenants(c.env.DB, after?.id ?? "", 51)).results;
  const next = rows.length > 50 ? encodeCursor({ id: rows[49]!.id }) : null;
  return c.html(<TenantsPage scope={c.get("scope")} rows={rows.slice(0, 50)} next={next} />);
});

operatorPages.post("/admin/tenants", async (c) => {
  const form = await formOf(c);
  const id = field(form, "id");
  const name = field(form, "name");
  const tenantId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "lower-case letters, digits, - and _, at most 63 characters").safeParse(id);
  if (!tenantId.success) throw new RelayError("invalid_request", "the form has mistakes", { issues: [{ path: "id", message: tenantId.error.issues[0]!.message }] });
  const created = await createTenantWithToken(c.env, { id, ...(name ? { name } : {}) });
  return c.html(
    <ShownOnce
      scope={c.get("scope")}
      title={`Tenant ${created.id} created`}
      what="ingest token"
      value={created.ingest_token}
      back={`/admin/tenants/${created.id}`}
      note={`Give AiRudder ${new URL(c.req.url).origin}/v1/callbacks/${created.id}/<kind>?token=<this token> (kind: inbound-transfer, inbound-call-end, pds, qa-report, workflow or any).`}
    />,
  );
});

operatorPages.get("/admin/tenants/:id", async (c) => {
  const scope = c.get("scope");
  const tenant = (await getTenant(c.env.DB, c.req.param("id"))) ?? notFoundTenant();
  const rows = (await listDestinations(c.env.DB, tenant.id, "", 200)).results;
  const views = await Promise.all(rows.map(async (r) => ({ ...r, header_names: (await destinationView(c.env, r)).header_names })));
  return c.html(
    <Page title={`Tenant ${tenant.id}`} scope={scope} current="/admin/tenants" notice={noticeOf(c)}>
      <TenantActions scope={scope} tenant={tenant} />
      <DestinationList scope={scope} tenant={tenant.id} rows={views} addAction={`/admin/tenants/${tenant.id}/destinations`} />
    </Page>,
  );
});

operatorPages.post("/admin/tenants/:id/rotate-token", async (c) => {
  const grace = Number(field(await formOf(c), "grace_seconds") || 86_400);
  if (!Number.isInteger(grace) || grace < 0 || grace > 30 * 86_400) throw new RelayError("invalid_request", "the grace period is 0 to 2592000 seconds");
  const rotated = await rotateIngestToken(c.env, c.req.param("id"), grace);
  return c.html(
    <ShownOnce
      scope={c.get("scope")}
      title="New ingest token"
      what="new ingest token"
      value={rotated.ingest_token}
      back={`/admin/tenants/${rotated.id}`}
      note={rotated.previous_token_expires_at ? `The previous token works until ${rotated.previous_token_expires_at}.` : "The previous token stopped working now."}
    />,
  );
});

operatorPages.post("/admin/tenants/:id/portal-link", async (c) => {
  const tenant = (await getTenant(c.env.DB, c.req.param("id"))) ?? notFoundTenant();
  const form = await formOf(c);
  const days = Number(field(form, "days") || 3);
  if (!(days > 0 && days <= 30)) throw new RelayError("invalid_request", "a portal link lasts 1 to 30 days");
  const link = await issuePortalLink(c.env, new URL(c.req.url).origin, { tenant: tenant.id, readOnly: field(form, "read_only") === "on", expiresAt: Date.now() + days * 86_400_000 });
  return c.html(
    <ShownOnce scope={c.get("scope")} title={`Portal link for ${tenant.id}`} what="portal link" value={link.url} back={`/admin/tenants/${tenant.id}`} note={`It opens the portal until ${link.expires_at}. Anyone holding it can use it: send it privately.`} />,
  );
});

operatorPages.post("/admin/tenants/:id/destinations", async (c) => {
  const tenantId = c.req.param("id");
  const created = await addDestination(c.env, tenantId, destinationToCreate(await formOf(c)));
  return c.html(
    <ShownOnce scope={c.get("scope")} title="Destination added" what="signing secret" value={created.secret} back={`/admin/destinations/${created.id}`} note="The CRM verifies each delivery's webhook-signature with it (Standard Webhooks)." />,
  );
});

operatorPages.get("/admin/quarantine", async (c) => {
  const position = decodeCursor(c.req.query("cursor"), z.object({ received_at: z.number(), id: z.string() }));
  const rows = (await listQuarantine(c.env.DB, null, position, 51)).results;
  const last = rows[49];
  const next = rows.length > 50 && last ? encodeCursor({ received_at: last.received_at, id: last.id }) : null;
  return c.html(<QuarantinePage scope={c.get("scope")} rows={rows.slice(0, 50)} next={next} notice={noticeOf(c)} />);
});

operatorPages.get("/admin/dead-letters", async (c) => {
  const position = decodeCursor(c.req.query("cursor"), z.object({ received_at: z.number(), id: z.string() }));
  const rows = (await listDeadLetters(c.env.DB, position, 51)).results;
  const last = rows[49];
  const next = rows.length > 50 && last ? encodeCursor({ received_at: last.received_at, id: last.id }) : null;
  return c.html(<DeadLettersPage scope={c.get("scope")} rows={rows.slice(0, 50)} next={next} notice={noticeOf(c)} />);
});

operatorPages.post("/admin/dead-letters/:id/hand-back", async (c) => {
  if (!(await handBackAgain(c.env, c.req.param("id")))) throw new RelayError("not_found", "no dead letter the sweep can hand back has this id");
  return done(c, "/admin/dead-letters", "handed-back");
});

operatorPages.get("/admin/quarantine/:id", async (c) => {
  const q = await getQuarantine(c.env.DB, c.req.param("id"));
  if (!q) throw new RelayError("not_found", "no such quarantined callback");
  return c.html(<QuarantinedPage scope={c.get("scope")} q={q} notice={noticeOf(c)} />);
});

operatorPages.post("/admin/quarantine/:id/replay", async (c) => {
  await replayQuarantined(c.env, c.req.param("id"));
  return done(c, `/admin/quarantine/${c.req.param("id")}`, "quarantine-replayed");
});

registerSharedRoutes(operatorPages, "/admin");

function notFoundTenant(): never {
  throw new RelayError("not_found", "no such tenant");
}
