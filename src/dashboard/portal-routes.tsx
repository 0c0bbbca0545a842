import { Hono } from "hono";
import { addDestination, destinationView } from "../admin/destinations";
import { listDestinations } from "../db/destinations";
import { getTenant } from "../db/tenants";
import { RelayError } from "../http/errors";
import { heldAndDead } from "../query/deliveries";
import { destinationToCreate } from "./forms";
import { checkForm, formOf, noticeOf, pageError } from "./guard";
import { Page } from "./layout";
import { DestinationList } from "./pages/destinations";
import { Closed, ShownOnce } from "./pages/misc";
import { readPortalLink } from "./portal-link";
import { mayChange, type DashboardEnv } from "./scope";
import { endSession, PORTAL_SESSION_MAX_SECONDS, readSession, startSession } from "./session";
import { registerSharedRoutes } from "./shared-routes";

/** The tenant portal under /portal: one tenant's events, deliveries and destinations, opened by a portal link. */
export const portalPages = new Hono<DashboardEnv>();
portalPages.onError(pageError);

const expired = () => <Closed title="Link expired" message="This portal link has expired or is not valid. Ask your operator for a new one." />;

/**
 * The link's token becomes a session cookie and leaves the address bar at
 * once. The session ends when the link does (or sooner), so an expired link
 * shows nothing even in a browser that opened it earlier.
 */
portalPages.get("/portal/open", async (c) => {
  const grant = await readPortalLink(c.env, c.req.query("token") ?? "");
  if (!grant || grant.expiresAt <= Date.now() || !(await getTenant(c.env.DB, grant.tenant))) {
    endSession(c, "tenant");
    return c.html(expired(), 403);
  }
  await startSession(c, { kind: "tenant", tenant: grant.tenant, readOnly: grant.readOnly }, Math.min(grant.expiresAt, Date.now() + PORTAL_SESSION_MAX_SECONDS * 1000));
  return c.redirect("/portal", 303);
});

portalPages.use("/portal/*", async (c, next) => {
  if (!c.env.ADMIN_TOKEN) return c.html(<Closed title="Portal closed" message="The portal is not available." />, 503);
  const session = await readSession(c, "tenant");
  if (!session || session.kind !== "tenant") return c.html(expired(), 401);
  c.set("scope", { kind: "tenant", base: "/portal", tenant: session.tenant, readOnly: session.readOnly, csrf: session.csrf });
  await next();
});
portalPages.use("/portal/*", checkForm);

portalPages.post("/portal/sign-out", (c) => {
  endSession(c, "tenant");
  return c.html(<Closed title="Signed out" message="You have left the portal. Open your link again to come back." />);
});

// A read-only link changes nothing: every other form post is refused before it reaches a handler.
portalPages.use("/portal/*", async (c, next) => {
  if (c.req.method === "POST" && !mayChange(c.get("scope"))) throw new RelayError("forbidden", "this portal link is read-only");
  await next();
});

portalPages.get("/portal", async (c) => {
  const scope = c.get("scope");
  if (scope.kind !== "tenant") throw new RelayError("not_found", "no such page");
  const [rows, waiting] = await Promise.all([listDestinations(c.env.DB, scope.tenant, "", 200), heldAndDead(c.env, scope.tenant)]);
  const views = await Promise.all(rows.results.map(async (r) => ({ ...r, header_names: (await destinationView(c.env, r)).header_names })));
  return c.html(
    <Page title="Your destinations" scope={scope} current="/portal" notice={noticeOf(c)}>
      <div class="stats">
        <a class="stat" href="/portal/deliveries?status=held">
          <b>{waiting.held}</b>held
        </a>
        <a class="stat" href="/portal/deliveries?status=dead">
          <b>{waiting.dead}</b>dead
        </a>
      </div>
      <DestinationList scope={scope} tenant={scope.tenant} rows={views} addAction="/portal/destinations" />
    </Page>,
  );
});

portalPages.post("/portal/destinations", async (c) => {
  const scope = c.get("scope");
  if (scope.kind !== "tenant") throw new RelayError("not_found", "no such page");
  const created = await addDestination(c.env, scope.tenant, destinationToCreate(await formOf(c)));
  return c.html(
    <ShownOnce scope={scope} title="Destination added" what="signing secret" value={created.secret} back={`/portal/destinations/${created.id}`} note="Your CRM verifies each delivery's webhook-signature with it (Standard Webhooks)." />,
  );
});

registerSharedRoutes(portalPages, "/portal");
