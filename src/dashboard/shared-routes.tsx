import type { Context, Hono } from "hono";
import { z } from "zod";
import { retryStoredDelivery } from "../admin/deliveries";
import { changeDestination, destinationView, recoverDestination, removeDestination, rotateSigningSecret } from "../admin/destinations";
import { replayStoredEvent } from "../admin/events";
import { decodeCursor, encodeCursor } from "../admin/pagination";
import { eventTypes } from "../callbacks/families";
import { destinationsByIds, destinationsOfTenants, getDestination, type DestinationRow } from "../db/destinations";
import { sendTestEvent } from "../delivery/test-event";
import { RelayError } from "../http/errors";
import { deliveryDetail, findDelivery, searchDeliveries } from "../query/deliveries";
import { eventDetail, findEvent, searchEvents } from "../query/events";
import { lastAttempts } from "../query/last-attempts";
import { destinationToPatch, field, utcTime } from "./forms";
import { done, formOf, noticeOf } from "./guard";
import { DeliveriesPage, DeliveryPage } from "./pages/deliveries";
import { DestinationPage } from "./pages/destinations";
import { EventDetailPage, EventsPage } from "./pages/events";
import { ShownOnce } from "./pages/misc";
import { ownedOr404, tenantOf, type DashboardEnv, type Scope } from "./scope";

/*
 * The pages the operator and a tenant both have: events, deliveries and one
 * destination. Every id in a URL is looked up and then checked against the
 * scope (ownedOr404), so a portal session reaches nothing of another tenant
 * whatever it puts in the address bar; listings take the tenant from the
 * scope, never from the query.
 */

const PAGE_SIZE = 50;
type C = Context<DashboardEnv>;
const scopeOf = (c: C) => c.get("scope");

const eventPosition = z.object({ received_at: z.number(), id: z.string() });
const deliveryPosition = z.object({ created_at: z.number(), id: z.string() });

async function ownedDestination(c: C, id: string): Promise<DestinationRow> {
  return ownedOr404(scopeOf(c), await getDestination(c.env.DB, id), "destination");
}

async function destinationPage(c: C, dest: DestinationRow, extra: { test?: Awaited<ReturnType<typeof sendTestEvent>> } = {}) {
  const view = await destinationView(c.env, dest);
  return c.html(<DestinationPage scope={scopeOf(c)} d={{ ...dest, header_names: view.header_names }} notice={noticeOf(c)} test={extra.test} />);
}

/** Where a tenant's destinations are listed, for the operator or in the portal. */
export const destinationsHome = (scope: Scope, tenant: string) => (scope.kind === "operator" ? `/admin/tenants/${tenant}` : "/portal");

export function registerSharedRoutes(r: Hono<DashboardEnv>, base: Scope["base"]): void {
  r.get(`${base}/events`, async (c) => {
    const scope = scopeOf(c);
    const q = c.req.query();
    const search = {
      callid: q.callid?.trim() || undefined,
      phone_last4: /^\d{4}$/.test(q.phone_last4 ?? "") ? q.phone_last4 : undefined,
      type: (eventTypes as readonly string[]).includes(q.type ?? "") ? q.type : undefined,
      tenant: tenantOf(scope) ?? (q.tenant?.trim() || undefined),
      since: utcTime(q, "since"),
      until: utcTime(q, "until"),
    };
    const page = await searchEvents(c.env, search, decodeCursor(q.cursor, eventPosition), PAGE_SIZE);
    return c.html(<EventsPage scope={scope} search={search} rows={page.rows} next={page.next ? encodeCursor(page.next) : null} />);
  });

  r.get(`${base}/events/:id`, async (c) => {
    const scope = scopeOf(c);
    const detail = await eventDetail(c.env, c.req.param("id"));
    ownedOr404(scope, detail && { tenant_id: detail.event.tenant_id }, "event");
    const destinations = (await destinationsOfTenants(c.env.DB, [detail!.event.tenant_id]).all<DestinationRow>()).results;
    return c.html(<EventDetailPage scope={scope} detail={detail!} destinations={destinations} notice={noticeOf(c)} />);
  });

  r.post(`${base}/events/:id/replay`, async (c) => {
    const event = ownedOr404(scopeOf(c), await findEvent(c.env, c.req.param("id")), "event");
    const destinationId = field(await formOf(c), "destination_id") || undefined;
    const result = await replayStoredEvent(c.env, event, destinationId);
    return done(c, `${base}/events/${event.id}`, "replayed", result.queued);
  });

  r.get(`${base}/deliveries`, async (c) => {
    const scope = scopeOf(c);
    const q = c.req.query();
    const search = {
      status: q.status || undefined,
      destination: q.destination?.trim() || undefined,
      tenant: tenantOf(scope) ?? (q.tenant?.trim() || undefined),
    };
    const page = await searchDeliveries(c.env, search, decodeCursor(q.cursor, deliveryPosition), PAGE_SIZE);
    const [last, destinations] = await Promise.all([
      lastAttempts(c.env, page.rows),
      destinationsByIds(c.env.DB, [...new Set(page.rows.map((d) => d.destination_id))]).all<DestinationRow>(),
    ]);
    return c.html(
      <DeliveriesPage
        scope={scope}
        search={search}
        rows={page.rows}
        last={last}
        destinations={destinations.results}
        next={page.next ? encodeCursor(page.next) : null}
        notice={noticeOf(c)}
      />,
    );
  });

  r.get(`${base}/deliveries/:id`, async (c) => {
    const scope = scopeOf(c);
    const detail = await deliveryDetail(c.env, c.req.param("id"));
    const delivery = ownedOr404(scope, detail?.delivery ?? null, "delivery");
    const dest = await getDestination(c.env.DB, delivery.destination_id);
    return c.html(<DeliveryPage scope={scope} delivery={delivery} attempts={detail!.attempts} destinationUrl={dest?.url} notice={noticeOf(c)} />);
  });

  r.post(`${base}/deliveries/:id/retry`, async (c) => {
    const delivery = ownedOr404(scopeOf(c), await findDelivery(c.env, c.req.param("id")), "delivery");
    await retryStoredDelivery(c.env, delivery.id);
    return done(c, `${base}/deliveries/${delivery.id}`, "retried");
  });

  r.get(`${base}/destinations/:id`, async (c) => destinationPage(c, await ownedDestination(c, c.req.param("id"))));

  r.post(`${base}/destinations/:id`, async (c) => {
    const dest = await ownedDestination(c, c.req.param("id"));
    await changeDestination(c.env, dest.id, destinationToPatch(await formOf(c)), pausedBy(scopeOf(c)));
    return done(c, `${base}/destinations/${dest.id}`, "saved");
  });

  for (const [action, enabled] of [["pause", false], ["resume", true]] as const) {
    r.post(`${base}/destinations/:id/${action}`, async (c) => {
      const dest = await ownedDestination(c, c.req.param("id"));
      await changeDestination(c.env, dest.id, { enabled }, pausedBy(scopeOf(c)));
      return done(c, `${base}/destinations/${dest.id}`, enabled ? "resumed" : "paused");
    });
  }

  r.post(`${base}/destinations/:id/delete`, async (c) => {
    const dest = await ownedDestination(c, c.req.param("id"));
    await removeDestination(c.env, dest.id);
    return done(c, destinationsHome(scopeOf(c), dest.tenant_id), "deleted");
  });

  r.post(`${base}/destinations/:id/rotate-secret`, async (c) => {
    const dest = await ownedDestination(c, c.req.param("id"));
    const rotated = await rotateSigningSecret(c.env, dest.id);
    return c.html(
      <ShownOnce
        scope={scopeOf(c)}
        title="New signing secret"
        what="new signing secret"
        value={rotated.secret}
        back={`${base}/destinations/${dest.id}`}
        note={`The previous secret also signs until ${rotated.previous_secret_expires_at}, so the CRM can switch over.`}
      />,
    );
  });

  r.post(`${base}/destinations/:id/test`, async (c) => {
    const dest = await ownedDestination(c, c.req.param("id"));
    const type = field(await formOf(c), "type") || "airudder.inbound.transfer";
    if (!(eventTypes as readonly string[]).includes(type)) throw new RelayError("invalid_request", `unknown event type ${type}`);
    return destinationPage(c, dest, { test: await sendTestEvent(c.env, dest, type as (typeof eventTypes)[number]) });
  });

  r.post(`${base}/destinations/:id/recover`, async (c) => {
    const dest = await ownedDestination(c, c.req.param("id"));
    const since = utcTime(await formOf(c), "since");
    if (since === undefined) throw new RelayError("invalid_request", "say since when", { issues: [{ path: "since", message: "required" }] });
    const progress = await recoverDestination(c.env, dest.id, since);
    return done(c, `${base}/deliveries?destination=${dest.id}`, "recovered", progress.queued + progress.held);
  });
}

/** Who a pause is put down to, for the destination's `disabled_reason`. */
const pausedBy = (scope: Scope) => (scope.kind === "operator" ? "operator" : "tenant");
