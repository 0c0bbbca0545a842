import { createHash } from "node:crypto";
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, portalLinkToken, startCrm, startRelay, uniqueCallId } from "./local-relay";

let relay: Awaited<ReturnType<typeof startRelay>>;
let crm: Awaited<ReturnType<typeof startCrm>>;
let browser: Browser;
const contexts: BrowserContext[] = [];
/** Console errors and page errors of every page; a test that expects an error status says which. */
let consoleErrors: string[] = [];
let allowedStatuses: number[] = [];

async function api<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(relay.base + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ baseURL: relay.base });
  contexts.push(context);
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const status = /status of (\d{3})/.exec(m.text());
    if (status && allowedStatuses.includes(Number(status[1]))) return;
    consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(e.message));
  return page;
}

async function signIn(page: Page) {
  await page.goto("/admin");
  await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await visible(page.getByRole("heading", { name: "Overview" }));
}

async function tenantWithDestination(path: string) {
  const id = `t${uniqueCallId().slice(0, 10)}`;
  const t = await api("POST", "/v1/admin/tenants", { id });
  const d = await api("POST", `/v1/admin/tenants/${id}/destinations`, { url: crm.url(path) });
  return { id, token: t.body.ingest_token as string, destination: d.body.id as string };
}

async function callback(tenant: { id: string; token: string }, body: object, kind = "inbound-transfer") {
  const res = await fetch(`${relay.base}/v1/callbacks/${tenant.id}/${kind}?token=${tenant.token}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { event_id?: string } };
}

async function until<T>(probe: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 200));
  }
}


// playwright-core has no test matchers: these wait as Playwright's would, then fail with what was seen.
const visible = (l: Locator) => l.first().waitFor({ state: "visible", timeout: 10_000 });
const hidden = (l: Locator) => l.first().waitFor({ state: "hidden", timeout: 10_000 });
async function hasText(l: Locator, text: string | RegExp) {
  await visible(l);
  let seen = "";
  await until(async () => {
    seen = (await l.first().textContent()) ?? "";
    return typeof text === "string" ? seen.includes(text) : text.test(seen);
  }, 10_000).catch(() => expect(seen).toContain(String(text)));
}
async function count(l: Locator, n: number) {
  let seen = -1;
  await until(async () => (seen = await l.count()) === n, 10_000).catch(() => expect(seen).toBe(n));
}

const deliveryStatus = async (eventId: string) => (await api("GET", `/v1/admin/events/${eventId}`)).body?.deliveries?.[0]?.status as string | undefined;

beforeAll(async () => {
  [relay, crm] = await Promise.all([startRelay(), startCrm()]);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    // Root in CI has no user namespaces for the sandbox; the pages are our own. Nothing may leave 127.0.0.1.
    args: ["--no-sandbox", "--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
  });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([relay?.stop(), crm?.stop()]);
});

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((c) => c.close()));
  const errors = consoleErrors;
  consoleErrors = [];
  allowedStatuses = [];
  expect(errors).toEqual([]);
});

describe("operator dashboard", () => {
  it("shows nothing before sign-in, refuses a wrong token, signs in and out", async () => {
    allowedStatuses = [401];
    const page = await newPage();
    await page.goto("/admin/events");
    expect(new URL(page.url()).pathname).toBe("/admin");
    await visible(page.getByLabel("Admin token"));
    expect(await page.content()).not.toContain("Events</h1>");
    await page.getByLabel("Admin token").fill("wrong");
    await page.getByRole("button", { name: "Sign in" }).click();
    await hasText(page.getByRole("alert"), "not the admin token");
    await signIn(page);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.goto("/admin/deliveries");
    await visible(page.getByLabel("Admin token"));
  });

  it("creates a tenant, adds a destination, sends a test event, rotates the token and the secret", async () => {
    const page = await newPage();
    await signIn(page);
    await page.getByRole("link", { name: "Tenants" }).click();
    const id = `ui${uniqueCallId().slice(0, 8)}`;
    await page.getByLabel("Id (a-z, 0-9, - and _)").fill(id);
    await page.getByLabel("Name").fill("UI tenant");
    await page.getByRole("button", { name: "Create tenant" }).click();
    await hasText(page.locator(".secret"), "rit_");
    await page.getByRole("link", { name: "Continue" }).click();

    await page.getByText("Add a destination").click();
    await page.getByLabel("URL").fill(crm.url(`/ui-${id}`));
    await page.getByLabel("airudder.inbound.transfer").check();
    await page.getByLabel("Headers, one").fill("X-Team: crm");
    await page.getByRole("button", { name: "Add destination" }).click();
    await hasText(page.locator(".secret"), "whsec_");
    await page.getByRole("link", { name: "Continue" }).click();
    await visible(page.getByText("X-Team"));

    await page.getByLabel("Test event type").selectOption("airudder.qa.report");
    await page.getByRole("button", { name: "Send test event" }).click();
    await visible(page.getByRole("heading", { name: "Test event sent" }));
    await hasText(page.locator("section", { hasText: "Test event sent" }), "200");
    expect(crm.requests.some((r) => r.path === `/ui-${id}` && r.body.includes("airudder.qa.report"))).toBe(true);

    await page.getByText("Edit destination").click();
    await page.getByLabel("Rate limit (requests, empty: none)").fill("5");
    await page.getByLabel("Per").selectOption("minute");
    await page.getByRole("button", { name: "Save destination" }).click();
    await hasText(page.getByRole("status"), "saved");
    await visible(page.getByText("5 per minute"));

    await page.getByRole("button", { name: "Rotate signing secret" }).click();
    await hasText(page.locator(".secret"), "whsec_");
    await page.goto(`/admin/tenants/${id}`);
    await page.getByRole("button", { name: "Rotate ingest token" }).click();
    await hasText(page.locator(".secret"), "rit_");
  });

  it("finds an event by call id and by phone digits, shows the conversation, masked phones and attempts, and replays it", async () => {
    const tenant = await tenantWithDestination("/events");
    const callid = uniqueCallId();
    const sent = await callback(tenant, {
      callid,
      caller_number: "0812345678",
      transfer_status: "2",
      call_start_time: "2024-02-01 10:02:14",
      asr_result: ["Robot: Hello, how can I help?", "Human: My number is 0812345678", "Robot: Transferring you now."],
    });
    expect(sent.status).toBe(200);
    await until(async () => (await deliveryStatus(sent.body.event_id!)) === "delivered");

    const page = await newPage();
    await signIn(page);
    await page.getByRole("link", { name: "Events" }).click();
    await page.getByLabel("Call id").fill(callid);
    await page.getByRole("button", { name: "Search events" }).click();
    await visible(page.getByRole("cell", { name: callid }));
    await page.goto(`/admin/events?phone_last4=5678&tenant=${tenant.id}`);
    await page.getByRole("link", { name: /Z$/ }).first().click();

    const chat = page.getByRole("list", { name: /Transcript/ });
    await count(chat.locator("li"), 3);
    await hasText(chat.locator("li.human"), "***5678");
    await hasText(chat.locator("li").first(), "Hello, how can I help?");
    expect(await page.content()).not.toContain("0812345678");
    await visible(page.getByText("transferred to an agent"));
    const raw = page.locator("details", { hasText: "Raw payload" });
    await hidden(raw.locator("pre"));
    await raw.locator("summary").click();
    await hasText(raw.locator("pre"), callid);
    await hasText(page.locator("section[aria-label^=Delivery] table"), "200");

    const before = crm.requests.filter((r) => r.path === "/events").length;
    await page.getByRole("button", { name: "Replay to all destinations" }).click();
    await hasText(page.getByRole("status"), "Replay queued (1");
    await until(async () => crm.requests.filter((r) => r.path === "/events").length > before);
    await page.locator("select[name=destination_id]").selectOption(tenant.destination);
    await page.getByRole("button", { name: "Replay to this destination" }).click();
    await hasText(page.getByRole("status"), "Replay queued");
  });

  it("shows QA scores of a QA report", async () => {
    const tenant = await tenantWithDestination("/qa");
    const task = `QA-${uniqueCallId()}`;
    const sent = await callback(
      tenant,
      { TaskID: task, Sign: createHash("md5").update(`${task}airudder`).digest("hex"), QADetail: [{ Recordingid: "rec_1", Scores: [{ CheckPointType: "SOP", Channel: "1", Score: "2/2" }] }] },
      "qa-report",
    );
    expect(sent.status).toBe(200);
    await until(async () => (await api("GET", `/v1/admin/events/${sent.body.event_id}`)).status === 200);
    const page = await newPage();
    await signIn(page);
    await page.goto(`/admin/events/${sent.body.event_id}`);
    await visible(page.getByRole("heading", { name: "QA scores" }));
    await visible(page.getByRole("cell", { name: "2/2" }));
  });

  it("lists dead deliveries with their last error, retries one and recovers a destination since a time; the overview counts them", async () => {
    const tenant = await tenantWithDestination("/fail");
    const sent = await callback(tenant, { callid: uniqueCallId(), transfer_status: "2" });
    await until(async () => (await deliveryStatus(sent.body.event_id!)) === "dead", 30_000);

    const page = await newPage();
    await signIn(page);
    await count(page.locator("svg.chart"), 2);
    await page.getByRole("link", { name: "Show 7 days" }).click();
    await count(page.locator("svg.chart"), 2);
    const dead = Number(await page.locator(".stat", { hasText: /^\d+dead$/ }).locator("b").textContent());
    expect(dead).toBeGreaterThanOrEqual(1);

    await page.getByRole("link", { name: "Deliveries" }).click();
    await page.getByLabel("Status").selectOption("dead");
    await page.getByLabel("Destination id").fill(tenant.destination);
    await page.getByRole("button", { name: "Filter deliveries" }).click();
    await visible(page.getByRole("cell", { name: "HTTP 500" }));
    await page.getByRole("button", { name: "Retry" }).first().click();
    await hasText(page.getByRole("status"), "Retry queued");
    await until(async () => (await deliveryStatus(sent.body.event_id!)) === "dead", 30_000);

    await page.goto(`/admin/deliveries?destination=${tenant.destination}`);
    await page.getByLabel("Failed and dead since (UTC)").fill(new Date(Date.now() - 3_600_000).toISOString().slice(0, 16));
    await page.getByRole("button", { name: "Recover deliveries since then" }).click();
    await hasText(page.getByRole("status"), "Recovery queued (1");
  });

  it("pauses a destination (the overview lists it with its reason), resumes and deletes it", async () => {
    const tenant = await tenantWithDestination("/pause");
    const page = await newPage();
    await signIn(page);
    await page.goto(`/admin/destinations/${tenant.destination}`);
    await page.getByRole("button", { name: "Pause destination" }).click();
    await hasText(page.getByRole("status"), "paused");
    await page.goto("/admin");
    await hasText(page.getByRole("row", { name: new RegExp(tenant.id) }), "paused by operator");
    await page.goto(`/admin/destinations/${tenant.destination}`);
    await page.getByRole("button", { name: "Resume destination" }).click();
    await hasText(page.getByRole("status"), "resumed");
    await page.getByText("Delete destination", { exact: true }).first().click();
    await page.getByRole("button", { name: "Delete destination" }).click();
    await hasText(page.getByRole("status"), "deleted");
    expect((await api("GET", `/v1/admin/destinations/${tenant.destination}`)).status).toBe(404);
  });

  it("shows a quarantined callback with its issues and tries it again", async () => {
    allowedStatuses = [422];
    const tenant = await tenantWithDestination("/q");
    expect((await callback(tenant, { transfer_status: "2", caller_number: "0811111111" })).status).toBe(422);
    const page = await newPage();
    await signIn(page);
    await page.getByRole("link", { name: "Quarantine" }).click();
    await page.getByRole("row", { name: new RegExp(tenant.id) }).getByRole("link").click();
    await visible(page.getByRole("heading", { name: "Issues" }));
    await hasText(page.locator("pre"), "***1111");
    expect(await page.content()).not.toContain("0811111111");
    await page.getByRole("button", { name: "Validate again and replay" }).click();
    await hasText(page.getByRole("alert"), "still does not match");
  });

  it("refuses a form whose CSRF token was tampered with (403) and changes nothing", async () => {
    allowedStatuses = [403];
    const page = await newPage();
    await signIn(page);
    await page.goto("/admin/tenants");
    const id = `csrf${uniqueCallId().slice(0, 8)}`;
    await page.getByLabel("Id (a-z, 0-9, - and _)").fill(id);
    await page.locator('form[action="/admin/tenants"] input[name=_csrf]').evaluate((el) => ((el as HTMLInputElement).value = "forged"));
    const response = page.waitForResponse((r) => r.url().endsWith("/admin/tenants") && r.request().method() === "POST");
    await page.getByRole("button", { name: "Create tenant" }).click();
    expect((await response).status()).toBe(403);
    await hasText(page.getByRole("alert"), "out of date");
    expect((await api("GET", "/v1/admin/tenants?limit=500")).body.data.some((t: { id: string }) => t.id === id)).toBe(false);
  });

  it("is usable on a phone-sized screen by keyboard", async () => {
    const page = await newPage();
    await page.setViewportSize({ width: 375, height: 700 });
    await page.goto("/admin");
    // The sign-in page focuses the token field itself; typing before it has would type into nothing.
    await visible(page.getByLabel("Admin token").and(page.locator(":focus")));
    await page.keyboard.type(ADMIN_TOKEN);
    await page.keyboard.press("Enter");
    await visible(page.getByRole("heading", { name: "Overview" }));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(1);
    for (const input of await page.locator("input:not([type=hidden]), select, textarea").all()) {
      const id = await input.evaluate((el) => (el.closest("label") ? "labelled" : el.getAttribute("aria-label") ?? ""));
      expect(id).not.toBe("");
    }
  });
});

describe("tenant portal", () => {
  it("opens from a portal link made on the dashboard, shows only its tenant, and answers 404 for another's ids", async () => {
    allowedStatuses = [404];
    const mine = await tenantWithDestination("/portal-mine");
    const theirs = await tenantWithDestination("/portal-theirs");
    const own = await callback(mine, { callid: uniqueCallId(), transfer_status: "2" });
    const other = await callback(theirs, { callid: uniqueCallId(), transfer_status: "2" });
    await until(async () => (await deliveryStatus(own.body.event_id!)) === "delivered" && (await deliveryStatus(other.body.event_id!)) === "delivered");
    const otherDelivery = (await api("GET", `/v1/admin/events/${other.body.event_id}`)).body.deliveries[0].id;

    const operator = await newPage();
    await signIn(operator);
    await operator.goto(`/admin/tenants/${mine.id}`);
    await operator.getByRole("button", { name: "Create portal link" }).click();
    const url = (await operator.locator(".secret").textContent())!;
    expect(url).toContain("/portal/open?token=");

    const page = await newPage();
    await page.goto(url);
    expect(new URL(page.url()).pathname).toBe("/portal");
    await visible(page.getByText(`Portal: ${mine.id}`));
    await count(page.getByRole("link", { name: "Quarantine" }), 0);
    await count(page.getByRole("link", { name: "Dead letters" }), 0);
    await page.getByRole("link", { name: "Events" }).click();
    await count(page.getByRole("cell", { name: /Z$/ }), 1);
    await page.goto(`/portal/events?tenant=${theirs.id}`);
    expect(await page.content()).not.toContain(other.body.event_id!);

    for (const path of [`/portal/events/${other.body.event_id}`, `/portal/deliveries/${otherDelivery}`, `/portal/destinations/${theirs.destination}`]) {
      const res = await page.goto(path);
      expect(res!.status(), path).toBe(404);
    }
    await page.goto("/admin/tenants");
    await visible(page.getByLabel("Admin token"));

    await page.goto("/portal");
    await page.getByText("Add a destination").click();
    await page.getByLabel("URL").fill(crm.url("/portal-added"));
    await page.getByRole("button", { name: "Add destination" }).click();
    await hasText(page.locator(".secret"), "whsec_");
    await page.getByRole("link", { name: "Continue" }).click();
    await page.getByRole("button", { name: "Send test event" }).click();
    await hasText(page.locator("section", { hasText: "Test event sent" }), "200");
    await page.getByRole("button", { name: "Pause destination" }).click();
    await visible(page.getByText("paused: paused by tenant"));
  });

  it("a read-only link shows the tenant's pages without a single form that changes something", async () => {
    const mine = await tenantWithDestination("/portal-ro");
    const link = await api("POST", `/v1/admin/tenants/${mine.id}/portal-link`, { read_only: true });
    const page = await newPage();
    await page.goto(link.body.url);
    await visible(page.getByText("(read-only)"));
    await page.goto(`/portal/destinations/${mine.destination}`);
    await count(page.getByRole("button", { name: "Pause destination" }), 0);
    await count(page.getByText("Add a destination"), 0);
    expect(await page.locator("form[method=post]").count()).toBe(1); // sign-out only
  });

  it("an expired link shows nothing", async () => {
    allowedStatuses = [401, 403];
    const mine = await tenantWithDestination("/portal-expired");
    const page = await newPage();
    const res = await page.goto(`/portal/open?token=${portalLinkToken(mine.id, Math.floor(Date.now() / 1000) - 10)}`);
    expect(res!.status()).toBe(403);
    await hasText(page.getByRole("alert"), "expired");
    expect((await page.goto("/portal/events"))!.status()).toBe(401);
    expect(await page.content()).not.toContain(mine.id);
  });
});
