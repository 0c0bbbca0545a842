import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { sweep } from "../src/maintenance/sweep";
import { MAX_REDRIVES } from "../src/queue-messages";
import { admin, call, callbackMessage, cleanedUpAfterEach, createTenant, freshCallback, postCallback, uniqueId, waitUntil } from "./helpers";

const ORIGIN = "https://relay.test";
const fixtures = cleanedUpAfterEach();

/** A browser's cookie jar for one site, enough for these pages. */
function browser() {
  const jar = new Map<string, string>();
  const remember = (res: Response) => {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const at = pair!.indexOf("=");
      const value = pair!.slice(at + 1);
      if (value === "" || /max-age=0/i.test(line)) jar.delete(pair!.slice(0, at));
      else jar.set(pair!.slice(0, at), value);
    }
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
  return {
    jar,
    async get(path: string) {
      const res = await call(path, { headers: { cookie: cookie() }, redirect: "manual" });
      remember(res);
      return { status: res.status, location: res.headers.get("location"), html: await res.text(), headers: res.headers };
    },
    async post(path: string, fields: Record<string, string>, origin: string | null = ORIGIN) {
      const res = await call(path, {
        method: "POST",
        headers: { cookie: cookie(), "content-type": "application/x-www-form-urlencoded", ...(origin ? { origin } : {}) },
        body: new URLSearchParams(fields).toString(),
        redirect: "manual",
      });
      remember(res);
      return { status: res.status, location: res.headers.get("location"), html: await res.text(), headers: res.headers };
    },
  };
}

const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";

async function operator() {
  const b = browser();
  const res = await b.post("/admin/sign-in", { token: env.ADMIN_TOKEN! });
  expect(res.status).toBe(303);
  const page = await b.get("/admin");
  return { ...b, csrf: csrfOf(page.html) };
}

async function portal(tenant: string, body: Record<string, unknown> = {}) {
  const link = await admin<{ url: string; expires_at: string }>("POST", `/v1/admin/tenants/${tenant}/portal-link`, body);
  expect(link.status).toBe(201);
  const b = browser();
  const opened = await b.get(new URL(link.body.url).pathname + new URL(link.body.url).search);
  expect(opened.status).toBe(303);
  const page = await b.get("/portal");
  expect(page.status).toBe(200);
  return { ...b, csrf: csrfOf(page.html), link: link.body };
}

async function eventWithDelivery(tenant: { id: string; token: string }, url: string) {
  const dest = await fixtures.destination(tenant, { url });
  const res = await postCallback(tenant.id, "inbound-transfer", freshCallback(), tenant.token);
  const { event_id } = (await res.json()) as { event_id: string };
  const delivery = await waitUntil(async () => {
    const r = await admin<{ deliveries: { id: string; status: string }[] }>("GET", `/v1/admin/events/${event_id}`);
    return r.status === 200 && r.body.deliveries.find((d) => d.status === "delivered");
  });
  return { dest, eventId: event_id, deliveryId: delivery.id };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("operator session", () => {
  it("shows only the sign-in form without a session, and no data", async () => {
    const b = browser();
    const page = await b.get("/admin");
    expect(page.status).toBe(200);
    expect(page.html).toContain('name="token"');
    expect(page.html).not.toContain("Overview");
    for (const path of ["/admin/events", "/admin/deliveries", "/admin/tenants", "/admin/quarantine", "/admin/dead-letters"]) {
      const r = await b.get(path);
      expect(r.status).toBe(303);
      expect(r.location).toBe("/admin");
    }
    expect((await b.post("/admin/tenants", { id: "nope" })).status).toBe(401);
  });

  it("refuses a wrong token and signs in with ADMIN_TOKEN into an HttpOnly, SameSite=Strict, Secure, expiring cookie", async () => {
    const b = browser();
    expect((await b.post("/admin/sign-in", { token: "wrong" })).status).toBe(401);
    const ok = await b.post("/admin/sign-in", { token: env.ADMIN_TOKEN! });
    expect(ok.status).toBe(303);
    const cookie = ok.headers.getSetCookie().join("\n");
    expect(cookie).toMatch(/relay_admin=/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Secure/);
    expect(cookie).toMatch(/Path=\/admin/);
    expect(cookie).toMatch(/Expires=/);
    const page = await b.get("/admin");
    expect(page.html).toContain("Overview");
    expect(page.headers.get("content-security-policy")).toContain("style-src 'self'");
  });

  it("signs out, after which nothing is shown", async () => {
    const b = await operator();
    expect((await b.post("/admin/sign-out", { _csrf: b.csrf })).status).toBe(303);
    expect((await b.get("/admin/events")).status).toBe(303);
  });

  it("a forged cookie is no session", async () => {
    const b = browser();
    b.jar.set("relay_admin", "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJvcGVyYXRvci1zZXNzaW9uIn0.AAAA");
    expect((await b.get("/admin/events")).status).toBe(303);
  });

  it("the admin API never takes the session cookie", async () => {
    const b = await operator();
    const res = await call("/v1/admin/tenants", { headers: { cookie: [...b.jar].map(([k, v]) => `${k}=${v}`).join("; ") } });
    expect(res.status).toBe(401);
  });
});

describe("dead letters", () => {
  it("are counted on the overview and listed without their bodies; one kept after its hand-backs can be handed back again", async () => {
    const tenant = await createTenant();
    const phone = "66812345678";
    const kept = { ...(await callbackMessage(tenant.id, freshCallback().replace(/"caller_number":\s*"[^"]*"/, `"caller_number":"${phone}"`))), redriven: MAX_REDRIVES };
    expect(kept.body).toContain(phone);
    const delivery = { t: "delivery", delivery_id: uniqueId("dlv") };
    const batch = createMessageBatch(
      "airudder-relay-dead-letters",
      [kept, delivery].map((body) => ({ id: uniqueId("dl"), timestamp: new Date(), attempts: 11, body })),
    );
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toHaveLength(2);
    const [keptId, deliveryId] = batch.messages.map((m) => m.id);

    const op = await operator();
    const overview = await op.get("/admin");
    expect(overview.html).toMatch(/href="\/admin\/dead-letters"><b>[1-9]\d*<\/b>dead letters/);
    const page = await op.get("/admin/dead-letters");
    expect(page.status).toBe(200);
    expect(page.html).toContain(kept.event_id);
    expect(page.html).not.toContain(phone);
    expect(page.html).toContain(`/admin/dead-letters/${keptId}/hand-back`);
    expect(page.html).not.toContain(`/admin/dead-letters/${deliveryId}/hand-back`);
    expect(page.html).toContain("due in D1");

    // A delivery is not handed back; without the form's CSRF token nothing is.
    expect((await op.post(`/admin/dead-letters/${deliveryId}/hand-back`, { _csrf: op.csrf })).status).toBe(404);
    expect((await op.post(`/admin/dead-letters/${keptId}/hand-back`, {})).status).toBe(403);
    const handed = await op.post(`/admin/dead-letters/${keptId}/hand-back`, { _csrf: op.csrf });
    expect(handed.status).toBe(303);
    expect(handed.location).toBe("/admin/dead-letters?notice=handed-back");
    const after = await op.get(handed.location!);
    expect(after.html).toContain("The next sweep hands it back to its queue.");
    expect(after.html).not.toContain(`/admin/dead-letters/${keptId}/hand-back`);

    // The next sweep does: the callback is stored, once.
    await sweep(env);
    const stored = await waitUntil(async () => {
      const r = await admin("GET", `/v1/admin/events/${kept.event_id}`);
      return r.status === 200 && r;
    });
    expect(stored.body).toMatchObject({ id: kept.event_id, tenant: tenant.id });
    expect((await op.get("/admin/dead-letters")).html).not.toContain(`/admin/dead-letters/${keptId}/hand-back`);
  });
});

describe("CSRF", () => {
  it("refuses a post from another origin and a post without the session's token with 403, and changes nothing", async () => {
    const b = await operator();
    const id = `csrf-${Date.now().toString(36)}`;
    expect((await b.post("/admin/tenants", { id, _csrf: b.csrf }, "https://evil.test")).status).toBe(403);
    expect((await b.post("/admin/tenants", { id })).status).toBe(403);
    expect((await b.post("/admin/tenants", { id, _csrf: "forged" })).status).toBe(403);
    expect((await admin("GET", "/v1/admin/tenants?limit=500")).body.data.some((t: { id: string }) => t.id === id)).toBe(false);
    const ok = await b.post("/admin/tenants", { id, _csrf: b.csrf });
    expect(ok.status).toBe(200);
    expect(ok.html).toContain("rit_");
  });

  it("refuses a sign-in form posted from another origin", async () => {
    const b = browser();
    expect((await b.post("/admin/sign-in", { token: env.ADMIN_TOKEN! }, "https://evil.test")).status).toBe(403);
  });
});

describe("test event endpoint", () => {
  it("sends a signed sample of the type asked and answers with the attempt", async () => {
    const tenant = await createTenant();
    const crm = fixtures.crm(() => new Response("thanks", { status: 202 }));
    const dest = await fixtures.destination(tenant, { url: crm.url() });
    const res = await admin("POST", `/v1/admin/destinations/${dest.id}/test`, { type: "airudder.qa.report" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ type: "airudder.qa.report", status_code: 202, error: null, response_body: "thanks" });
    expect(res.body.event_id).toMatch(/^evt_test_/);
    expect(typeof res.body.duration_ms).toBe("number");
    expect(crm.requests).toHaveLength(1);
    const sent = JSON.parse(crm.requests[0]!.body);
    expect(sent).toMatchObject({ type: "airudder.qa.report", tenant: tenant.id });
    expect(crm.requests[0]!.headers["webhook-signature"]).toMatch(/^v1,/);
  });

  it("defaults to an inbound transfer, reports a failing CRM, and 404s an unknown destination", async () => {
    const tenant = await createTenant();
    const crm = fixtures.crm(() => new Response("down", { status: 503 }));
    const dest = await fixtures.destination(tenant, { url: crm.url() });
    const res = await call(`/v1/admin/destinations/${dest.id}/test`, { method: "POST", headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ type: "airudder.inbound.transfer", status_code: 503 });
    expect((await admin("POST", "/v1/admin/destinations/dst_nope/test", {})).status).toBe(404);
    expect((await admin("POST", `/v1/admin/destinations/${dest.id}/test`, { type: "nope" })).status).toBe(400);
  });
});

describe("tenant portal", () => {
  it("answers 201 with a url and an expiry three days ahead by default; 404 for an unknown tenant", async () => {
    const tenant = await createTenant();
    const res = await admin("POST", `/v1/admin/tenants/${tenant.id}/portal-link`);
    expect(res.status).toBe(201);
    expect(res.body.url).toMatch(/^https:\/\/relay\.test\/portal\/open\?token=/);
    const days = (Date.parse(res.body.expires_at) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(2.99);
    expect(days).toBeLessThan(3.01);
    expect((await admin("POST", "/v1/admin/tenants/no-such-tenant/portal-link", {})).status).toBe(404);
  });

  it("shows its own tenant's data and answers 404 for another tenant's event, delivery and destination, changing nothing", async () => {
    const mine = await createTenant();
    const theirs = await createTenant();
    const crm = fixtures.crm();
    const own = await eventWithDelivery(mine, crm.url("/mine"));
    const other = await eventWithDelivery(theirs, crm.url("/theirs"));
    const p = await portal(mine.id);

    expect((await p.get(`/portal/events/${own.eventId}`)).status).toBe(200);
    expect((await p.get(`/portal/deliveries/${own.deliveryId}`)).status).toBe(200);
    expect((await p.get(`/portal/destinations/${own.dest.id}`)).status).toBe(200);

    for (const path of [`/portal/events/${other.eventId}`, `/portal/deliveries/${other.deliveryId}`, `/portal/destinations/${other.dest.id}`]) {
      expect((await p.get(path)).status, path).toBe(404);
    }
    const before = await admin("GET", `/v1/admin/destinations/${other.dest.id}`);
    for (const [path, fields] of [
      [`/portal/destinations/${other.dest.id}/pause`, {}],
      [`/portal/destinations/${other.dest.id}/rotate-secret`, {}],
      [`/portal/destinations/${other.dest.id}/delete`, {}],
      [`/portal/destinations/${other.dest.id}/test`, {}],
      [`/portal/destinations/${other.dest.id}`, { url: "https://evil.test/x" }],
      [`/portal/events/${other.eventId}/replay`, {}],
      [`/portal/events/${own.eventId}/replay`, { destination_id: other.dest.id }],
      [`/portal/deliveries/${other.deliveryId}/retry`, {}],
    ] as const) {
      expect((await p.post(path, { ...fields, _csrf: p.csrf })).status, path).toBe(404);
    }
    expect((await admin("GET", `/v1/admin/destinations/${other.dest.id}`)).body).toEqual(before.body);
    expect(crm.requests.filter((r) => r.url.endsWith("/theirs"))).toHaveLength(1);

    const events = await p.get(`/portal/events?tenant=${theirs.id}`);
    expect(events.html).toContain(own.eventId);
    expect(events.html).not.toContain(other.eventId);
    const deliveries = await p.get(`/portal/deliveries?tenant=${theirs.id}&destination=${other.dest.id}`);
    expect(deliveries.html).not.toContain(other.deliveryId);
  });

  it("never opens the operator's pages or the admin API", async () => {
    const tenant = await createTenant();
    const p = await portal(tenant.id);
    expect((await p.get("/admin/tenants")).status).toBe(303);
    expect((await p.get("/admin")).html).toContain('name="token"');
    const cookie = [...p.jar].map(([k, v]) => `${k}=${v}`).join("; ");
    expect((await call("/v1/admin/events", { headers: { cookie } })).status).toBe(401);
  });

  it("a portal user adds, edits, pauses, tests and rotates its own destination", async () => {
    const tenant = await createTenant();
    const crm = fixtures.crm();
    const p = await portal(tenant.id);
    const added = await p.post("/portal/destinations", { url: crm.url("/p"), event_types: "airudder.inbound.transfer", _csrf: p.csrf });
    expect(added.status).toBe(200);
    expect(added.html).toContain("whsec_");
    const list = await admin<{ data: { id: string; url: string }[] }>("GET", `/v1/admin/tenants/${tenant.id}/destinations`);
    const id = list.body.data[0]!.id;
    expect((await p.post(`/portal/destinations/${id}`, { url: crm.url("/q"), format: "raw", _csrf: p.csrf })).status).toBe(303);
    expect((await p.post(`/portal/destinations/${id}/pause`, { _csrf: p.csrf })).status).toBe(303);
    const after = await admin("GET", `/v1/admin/destinations/${id}`);
    expect(after.body).toMatchObject({ url: crm.url("/q"), format: "raw", enabled: false, disabled_reason: "paused by tenant", event_types: null });
    const tested = await p.post(`/portal/destinations/${id}/test`, { type: "airudder.workflow.status", _csrf: p.csrf });
    expect(tested.status).toBe(200);
    expect(tested.html).toContain("Test event sent");
    expect(crm.requests.at(-1)!.url).toContain("/q");
    expect((await p.post(`/portal/destinations/${id}/rotate-secret`, { _csrf: p.csrf })).html).toContain("whsec_");
    await admin("DELETE", `/v1/admin/destinations/${id}`);
  });

  it("a read-only link shows but changes nothing", async () => {
    const tenant = await createTenant();
    const crm = fixtures.crm();
    const own = await eventWithDelivery(tenant, crm.url());
    const p = await portal(tenant.id, { read_only: true });
    const page = await p.get(`/portal/destinations/${own.dest.id}`);
    expect(page.status).toBe(200);
    expect(page.html).not.toContain("Pause destination");
    expect((await p.post(`/portal/destinations/${own.dest.id}/pause`, { _csrf: p.csrf })).status).toBe(403);
    expect((await p.post("/portal/destinations", { url: crm.url("/x"), _csrf: p.csrf })).status).toBe(403);
    expect((await p.post(`/portal/events/${own.eventId}/replay`, { _csrf: p.csrf })).status).toBe(403);
    expect((await admin("GET", `/v1/admin/destinations/${own.dest.id}`)).body.enabled).toBe(true);
    expect((await admin("GET", `/v1/admin/tenants/${tenant.id}/destinations`)).body.data).toHaveLength(1);
  });

  it("an expired link opens nothing, and a session it opened ends with it", async () => {
    const tenant = await createTenant();
    const p = await portal(tenant.id, { expires_in_seconds: 60 });
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000);
    const page = await p.get("/portal");
    expect(page.status).toBe(401);
    expect(page.html).not.toContain("Your destinations");
    const fresh = browser();
    const url = new URL(p.link.url);
    const opened = await fresh.get(url.pathname + url.search);
    expect(opened.status).toBe(403);
    expect(fresh.jar.has("relay_portal")).toBe(false);
    expect((await fresh.get("/portal/events")).status).toBe(401);
  });

  it("a tampered link opens nothing", async () => {
    const tenant = await createTenant();
    const link = await admin<{ url: string }>("POST", `/v1/admin/tenants/${tenant.id}/portal-link`, {});
    const url = new URL(link.body.url);
    const token = url.searchParams.get("token")!;
    const [h, , s] = token.split(".");
    const forged = `${h}.${btoa(JSON.stringify({ aud: "portal-link", sub: "someone-else", exp: 9999999999 })).replace(/=+$/, "")}.${s}`;
    expect((await browser().get(`/portal/open?token=${forged}`)).status).toBe(403);
  });
});
