import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../src/crypto/hash";
import type { Env } from "../src/env";
import worker from "../src/index";
import { ADMIN, admin, call, createDestination, createTenant, fakeCrm, postCallback, uniqueId, waitUntil } from "./helpers";
import { everyDatabase } from "./every-database";

const crms: ReturnType<typeof fakeCrm>[] = [];
afterEach(() => crms.splice(0).forEach((c) => c.restore()));

function crm(handler?: Parameters<typeof fakeCrm>[0]) {
  const c = fakeCrm(handler);
  crms.push(c);
  return c;
}

interface ErrorBody {
  ok: false;
  error: { code: string; message: string; request_id: string; issues?: { path: string; message: string }[] };
}

/** The house error shape, with the request id of the x-request-id header. */
async function expectError(res: Response, status: number, code: string): Promise<ErrorBody> {
  expect(res.status).toBe(status);
  const text = await res.text();
  expect(text).not.toMatch(/\n\s+at\s|\.(ts|js):\d+|"stack"/);
  const body = JSON.parse(text) as ErrorBody;
  expect(body).toMatchObject({ ok: false, error: { code, message: expect.any(String), request_id: res.headers.get("x-request-id") } });
  return body;
}

/** An admin call whose raw Response is kept, for the error-shape checks. */
const adminRaw = (method: string, path: string, body?: unknown) =>
  call(path, {
    method,
    headers: { ...ADMIN, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function fetchWith(overrides: Partial<Env>, method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const req = new Request(`https://relay.test${path}`, {
    method,
    headers: { ...headers, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return worker.fetch(req, { ...env, ...overrides }, createExecutionContext());
}

/** Every page of a list, following next_cursor. */
async function allPages<T>(path: string, limit: number): Promise<{ items: T[]; pages: unknown[] }> {
  const items: T[] = [];
  const pages: unknown[] = [];
  let cursor: string | null = null;
  const sep = path.includes("?") ? "&" : "?";
  for (let i = 0; i < 10_000; i++) {
    const res: { status: number; body: { data: T[]; next_cursor: string | null } } = await admin(
      "GET",
      `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
    expect(res.status).toBe(200);
    expect(res.body.data.length).toBeLessThanOrEqual(limit);
    pages.push(res.body);
    items.push(...res.body.data);
    cursor = res.body.next_cursor;
    if (cursor === null) return { items, pages };
  }
  throw new Error("the list never ended");
}

const transfer = (callid: string) => JSON.stringify({ callid, transfer_status: "2", caller_number: "0812345678" });

describe("admin auth", () => {
  it("answers 401 in the house shape without a valid bearer token", async () => {
    const token = env.ADMIN_TOKEN!;
    const attempts: Record<string, string>[] = [
      {},
      { authorization: "" },
      { authorization: "Bearer" },
      { authorization: "Bearer wrong-token" },
      { authorization: `Bearer ${token.slice(0, -1)}` },
      { authorization: `Bearer ${token}x` },
      { authorization: `Bearer ${token.toUpperCase()}` },
      { authorization: `Basic ${token}` },
      { authorization: token },
      { "x-admin-token": token },
    ];
    const bodies = [];
    for (const headers of attempts) {
      const body = await expectError(await call("/v1/admin/tenants", { headers }), 401, "unauthorized");
      bodies.push({ ...body, error: { ...body.error, request_id: "(varies)" } });
    }
    for (const b of bodies) expect(b).toEqual(bodies[0]);
    // A query-string token is not an admin credential either.
    await expectError(await call(`/v1/admin/tenants?token=${token}`), 401, "unauthorized");
    expect((await admin("GET", "/v1/admin/tenants")).status).toBe(200);
  });

  it("refuses every admin call with 503 when ADMIN_TOKEN is not set, never opening up", async () => {
    for (const adminToken of [undefined, ""]) {
      for (const [method, path, body] of [
        ["GET", "/v1/admin/tenants", undefined],
        ["POST", "/v1/admin/tenants", { id: uniqueId("t") }],
        ["GET", "/v1/admin/events", undefined],
      ] as const) {
        for (const headers of [ADMIN, {}, { authorization: "Bearer " }]) {
          const res = await fetchWith({ ADMIN_TOKEN: adminToken }, method, path, headers, body);
          await expectError(res, 503, "admin_not_configured");
        }
      }
    }
    // The ingest route and /healthz do not depend on it.
    expect((await fetchWith({ ADMIN_TOKEN: undefined }, "GET", "/healthz", {})).status).toBe(200);
  });
});

describe("tenants", () => {
  it("creates a tenant with an ingest token, and refuses a duplicate or a bad id", async () => {
    const id = uniqueId("acme");
    const created = await admin("POST", "/v1/admin/tenants", { id, name: "Acme Co" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id, name: "Acme Co", ingest_token: expect.stringMatching(/^rit_[A-Za-z0-9_-]{20,}$/) });
    expect(await postCallback(id, "inbound-transfer", transfer(uniqueId("c")), created.body.ingest_token)).toHaveProperty("status", 200);

    const unnamed = await admin("POST", "/v1/admin/tenants", { id: uniqueId("anon") });
    expect(unnamed.status).toBe(201);
    expect(typeof unnamed.body.name).toBe("string");
    expect(unnamed.body.ingest_token).not.toBe(created.body.ingest_token);

    const dup = await adminRaw("POST", "/v1/admin/tenants", { id, name: "Again" });
    await expectError(dup, 409, "conflict");
    const row = await everyDatabase.prepare("SELECT name FROM tenants WHERE id = ?1").bind(id).first();
    expect(row).toEqual({ name: "Acme Co" });

    for (const bad of [{ id: "Has Spaces" }, { id: "" }, { id: "UPPER" }, { id: "a/b" }, { id: "x".repeat(64) }, { name: "no id" }, { id: 42 }]) {
      const res = await expectError(await adminRaw("POST", "/v1/admin/tenants", bad), 400, "invalid_request");
      expect(res.error.issues?.map((i) => i.path)).toContain("id");
    }
    await expectError(
      await call("/v1/admin/tenants", { method: "POST", headers: { ...ADMIN, "content-type": "application/json" }, body: "{not json" }),
      400,
      "invalid_request",
    );
  });

  it("pages through tenants with limit and cursor, without repeats, and never shows a token or hash", async () => {
    const prefix = uniqueId("page");
    const mine = [];
    for (let i = 0; i < 5; i++) mine.push(await createTenant(`${prefix}-${i}`));
    const hashes = await Promise.all(mine.map((t) => sha256Hex(t.token)));

    const { items, pages } = await allPages<{ id: string; name: string; created_at: string }>("/v1/admin/tenants", 2);
    const ids = items.map((t) => t.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => id.startsWith(prefix))).toEqual(mine.map((t) => t.id));
    const text = JSON.stringify(pages);
    for (const secret of [...mine.map((t) => t.token), ...hashes]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/token|hash/);
    for (const t of items.filter((x) => x.id.startsWith(prefix))) {
      expect(Object.keys(t).sort()).toEqual(["created_at", "id", "name"]);
    }

    await expectError(await adminRaw("GET", "/v1/admin/tenants?limit=0"), 400, "invalid_request");
    await expectError(await adminRaw("GET", "/v1/admin/tenants?limit=abc"), 400, "invalid_request");
    await expectError(await adminRaw("GET", "/v1/admin/tenants?cursor=not-a-cursor"), 400, "invalid_request");
  });

  it("rotates the ingest token: the new one works and D1 keeps only its hash", async () => {
    const tenant = await createTenant();
    const rotated = await admin("POST", `/v1/admin/tenants/${tenant.id}/rotate-token`);
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.ingest_token as string;
    expect(fresh).toMatch(/^rit_/);
    expect(fresh).not.toBe(tenant.token);
    expect(rotated.body.id).toBe(tenant.id);

    const res = await postCallback(tenant.id, "inbound-transfer", transfer(uniqueId("c")), fresh);
    expect(res.status).toBe(200);

    const row = await everyDatabase.prepare("SELECT * FROM tenants WHERE id = ?1").bind(tenant.id).first<Record<string, unknown>>();
    expect(row!.token_hash).toBe(await sha256Hex(fresh));
    expect(JSON.stringify(row)).not.toContain(fresh);
    expect(JSON.stringify(row)).not.toContain(tenant.token);

    await expectError(await adminRaw("POST", `/v1/admin/tenants/${uniqueId("ghost")}/rotate-token`), 404, "not_found");
  });
});

describe("destinations", () => {
  it("shows the signing secret once and header names, never their values", async () => {
    const tenant = await createTenant();
    const created = await admin("POST", `/v1/admin/tenants/${tenant.id}/destinations`, {
      url: "https://crm.example.com/hooks/airudder",
      event_types: ["airudder.inbound.transfer"],
      headers: { "X-Api-Key": "header-value-that-is-secret", Authorization: "Bearer crm-credential" },
    });
    expect(created.status).toBe(201);
    expect(created.body.id).toMatch(/\S/);
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(created.body.header_names.sort()).toEqual(["Authorization", "X-Api-Key"]);

    const given = "whsec_" + btoa("0123456789abcdef0123456789abcdef");
    const own = await admin("POST", `/v1/admin/tenants/${tenant.id}/destinations`, { url: "https://crm.example.com/two", secret: given });
    expect(own.status).toBe(201);
    expect(own.body.secret).toBe(given);

    const secrets = [created.body.secret, given, "header-value-that-is-secret", "crm-credential"];
    const list = await admin("GET", `/v1/admin/tenants/${tenant.id}/destinations`);
    expect(list.status).toBe(200);
    expect(list.body.data.map((d: { id: string }) => d.id).sort()).toEqual([created.body.id, own.body.id].sort());
    const one = await admin("GET", `/v1/admin/destinations/${created.body.id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: created.body.id, tenant_id: tenant.id, url: "https://crm.example.com/hooks/airudder", enabled: true });
    expect(one.body.header_names.sort()).toEqual(["Authorization", "X-Api-Key"]);
    for (const shown of [list.body, one.body]) {
      const text = JSON.stringify(shown);
      for (const secret of secrets) expect(text).not.toContain(secret);
      expect(text).not.toMatch(/"(secret|headers|secret_enc|headers_enc)"/);
    }

    // At rest the secret and header values are encrypted.
    const row = await everyDatabase.prepare("SELECT * FROM destinations WHERE id = ?1").bind(created.body.id).first();
    for (const secret of secrets) expect(JSON.stringify(row)).not.toContain(secret);
  });

  it("changes and removes a destination", async () => {
    const tenant = await createTenant();
    const dest = await createDestination(tenant.id, { url: "https://crm.example.com/a" });

    const patched = await admin("PATCH", `/v1/admin/destinations/${dest.id}`, {
      url: "https://crm.example.com/b",
      event_types: ["airudder.qa.report", "airudder.workflow.status"],
      headers: { "X-Tenant": "value-b" },
      enabled: false,
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      id: dest.id,
      url: "https://crm.example.com/b",
      event_types: ["airudder.qa.report", "airudder.workflow.status"],
      header_names: ["X-Tenant"],
      enabled: false,
    });
    expect(JSON.stringify(patched.body)).not.toContain("value-b");
    expect((await admin("GET", `/v1/admin/destinations/${dest.id}`)).body).toMatchObject({ url: "https://crm.example.com/b", enabled: false });

    const back = await admin("PATCH", `/v1/admin/destinations/${dest.id}`, { enabled: true, event_types: null });
    expect(back.body).toMatchObject({ enabled: true, event_types: null, url: "https://crm.example.com/b", disabled_reason: null });

    await expectError(await adminRaw("PATCH", `/v1/admin/destinations/${dest.id}`, { event_types: ["airudder.nope"] }), 400, "invalid_request");
    await expectError(await adminRaw("PATCH", `/v1/admin/destinations/${dest.id}`, { enabled: "yes" }), 400, "invalid_request");

    const removed = await adminRaw("DELETE", `/v1/admin/destinations/${dest.id}`);
    expect(removed.status).toBe(204);
    expect(await removed.text()).toBe("");
    await expectError(await adminRaw("GET", `/v1/admin/destinations/${dest.id}`), 404, "not_found");
    await expectError(await adminRaw("DELETE", `/v1/admin/destinations/${dest.id}`), 404, "not_found");
    await expectError(await adminRaw("PATCH", `/v1/admin/destinations/${dest.id}`, { enabled: true }), 404, "not_found");
    expect((await admin("GET", `/v1/admin/tenants/${tenant.id}/destinations`)).body.data).toEqual([]);
  });

  it("refuses invalid URLs, and http:// unless insecure destinations are allowed", async () => {
    const tenant = await createTenant();
    for (const url of ["not a url", "ftp://crm.example.com/x", "https://user:pass@crm.example.com/x", ""]) {
      const res = await expectError(await adminRaw("POST", `/v1/admin/tenants/${tenant.id}/destinations`, { url }), 400, "invalid_request");
      expect(res.error.issues?.map((i) => i.path)).toContain("url");
    }
    await expectError(await adminRaw("POST", `/v1/admin/tenants/${tenant.id}/destinations`, {}), 400, "invalid_request");

    const strict = { ALLOW_INSECURE_DESTINATIONS: "false" };
    const path = `/v1/admin/tenants/${tenant.id}/destinations`;
    const refused = await expectError(await fetchWith(strict, "POST", path, ADMIN, { url: "http://crm.example.com/hook" }), 400, "invalid_request");
    expect(refused.error.issues?.map((i) => i.path)).toContain("url");
    const ok = await fetchWith(strict, "POST", path, ADMIN, { url: "https://crm.example.com/hook" });
    expect(ok.status).toBe(201);
    const { id } = (await ok.json()) as { id: string };
    await expectError(await fetchWith(strict, "PATCH", `/v1/admin/destinations/${id}`, ADMIN, { url: "http://crm.example.com/hook" }), 400, "invalid_request");
    expect((await admin("GET", `/v1/admin/destinations/${id}`)).body.url).toBe("https://crm.example.com/hook");

    // The test env allows http:// (ALLOW_INSECURE_DESTINATIONS=true), as for local testing.
    expect((await admin("POST", path, { url: "http://127.0.0.1:9/hook" })).status).toBe(201);
    await expectError(await adminRaw("POST", `/v1/admin/tenants/${uniqueId("ghost")}/destinations`, { url: "https://crm.example.com/x" }), 404, "not_found");
  });
});

describe("events and deliveries", () => {
  it("lists events newest first with tenant, type, callid and since/until filters", async () => {
    const tenant = await createTenant();
    const calls = [uniqueId("call-a"), uniqueId("call-b"), uniqueId("call-c")];
    const bodies = [
      transfer(calls[0]!),
      JSON.stringify({ type: "AgentStatus", body: { callid: calls[1], State: "ANSWERED", agentName: "somchai", phoneNumber: "+66812345678" } }),
      transfer(calls[2]!),
    ];
    const ids: string[] = [];
    for (const [i, body] of bodies.entries()) {
      const res = await postCallback(tenant.id, i === 1 ? "pds" : "inbound-transfer", body, tenant.token);
      ids.push(((await res.json()) as { event_id: string }).event_id);
      await new Promise((r) => setTimeout(r, 5));
    }
    type Summary = { id: string; tenant: string; type: string; callid: string; received_at: string; phone_masked: string | null };
    const all = await waitUntil(async () => {
      const r = await admin<{ data: Summary[] }>("GET", `/v1/admin/events?tenant=${tenant.id}`);
      return r.body.data.length === 3 && r.body.data;
    });
    expect(all.map((e) => e.id)).toEqual([...ids].reverse());
    for (const e of all) expect(e.tenant).toBe(tenant.id);
    expect(JSON.stringify(all)).not.toContain("0812345678");
    expect(all.find((e) => e.id === ids[1])).toMatchObject({ type: "airudder.pds.agent_status", callid: calls[1], phone_masked: "***5678" });

    const list = async (query: string) => (await admin<{ data: Summary[] }>("GET", `/v1/admin/events?${query}`)).body.data.map((e) => e.id);
    expect(await list(`tenant=${tenant.id}&type=airudder.pds.agent_status`)).toEqual([ids[1]]);
    expect(await list(`tenant=${tenant.id}&type=airudder.inbound.transfer`)).toEqual([ids[2], ids[0]]);
    expect(await list(`tenant=${tenant.id}&callid=${calls[0]}`)).toEqual([ids[0]]);
    expect(await list(`callid=${calls[2]}`)).toEqual([ids[2]]);
    expect(await list(`tenant=${uniqueId("other")}&callid=${calls[2]}`)).toEqual([]);

    const at = all.map((e) => Date.parse(e.received_at)).reverse();
    expect(at[0]).toBeLessThan(at[1]!);
    expect(at[1]).toBeLessThan(at[2]!);
    const iso = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
    expect(await list(`tenant=${tenant.id}&since=${iso(at[1]!)}`)).toEqual([ids[2], ids[1]]);
    expect(await list(`tenant=${tenant.id}&until=${iso(at[1]! + 1)}`)).toEqual([ids[1], ids[0]]);
    expect(await list(`tenant=${tenant.id}&since=${at[1]}&until=${at[1]! + 1}`)).toEqual([ids[1]]);
    expect(await list(`tenant=${tenant.id}&since=${at[2]! + 1}`)).toEqual([]);

    const paged = await allPages<Summary>(`/v1/admin/events?tenant=${tenant.id}`, 1);
    expect(paged.items.map((e) => e.id)).toEqual([...ids].reverse());

    await expectError(await adminRaw("GET", "/v1/admin/events?type=airudder.nope"), 400, "invalid_request");
    await expectError(await adminRaw("GET", "/v1/admin/events?since=yesterday"), 400, "invalid_request");
  });

  it("shows an event with its payload, deliveries and attempts", async () => {
    const good = crm();
    const tenant = await createTenant();
    const dest = await createDestination(tenant.id, { url: good.url() });
    const body = transfer(uniqueId("call"));
    const { event_id } = (await (await postCallback(tenant.id, "inbound-transfer", body, tenant.token)).json()) as { event_id: string };

    const detail = await waitUntil(async () => {
      const r = await admin("GET", `/v1/admin/events/${event_id}`);
      return r.status === 200 && r.body.deliveries[0]?.status === "delivered" && r.body;
    });
    expect(detail).toMatchObject({ id: event_id, tenant: tenant.id, type: "airudder.inbound.transfer", payload: JSON.parse(body) });
    expect(detail.deliveries).toHaveLength(1);
    expect(detail.deliveries[0]).toMatchObject({
      event_id,
      destination_id: dest.id,
      status: "delivered",
      attempt_count: 1,
      last_status_code: 200,
      next_attempt_at: null,
    });
    expect(detail.deliveries[0].attempts).toEqual([
      expect.objectContaining({ at: expect.any(String), status_code: 200, duration_ms: expect.any(Number), error: null }),
    ]);

    const one = await admin("GET", `/v1/admin/deliveries/${detail.deliveries[0].id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: detail.deliveries[0].id, status: "delivered", attempts: [expect.objectContaining({ status_code: 200 })] });
  });

  it("lists deliveries by status, tenant and destination", async () => {
    const ok = crm();
    const failing = crm(() => new Response("down", { status: 500 }));
    const tenant = await createTenant();
    const good = await createDestination(tenant.id, { url: ok.url() });
    const paused = await createDestination(tenant.id, { url: ok.url("/paused"), enabled: false });
    const bad = await createDestination(tenant.id, { url: failing.url() });
    const res = await postCallback(tenant.id, "inbound-transfer", transfer(uniqueId("call")), tenant.token);
    const { event_id } = (await res.json()) as { event_id: string };

    type Delivery = { id: string; event_id: string; destination_id: string; status: string; next_attempt_at: string | null };
    const list = (query: string) => admin<{ data: Delivery[] }>("GET", `/v1/admin/deliveries?tenant=${tenant.id}&${query}`).then((r) => r.body.data);
    await waitUntil(async () => (await list("status=failed")).length === 1);

    expect((await list("status=delivered")).map((d) => d.destination_id)).toEqual([good.id]);
    expect((await list("status=held")).map((d) => d.destination_id)).toEqual([paused.id]);
    const failed = await list("status=failed");
    expect(failed.map((d) => d.destination_id)).toEqual([bad.id]);
    expect(failed[0]!.next_attempt_at).not.toBeNull();
    expect(await list("status=dead")).toEqual([]);
    expect(await list("status=pending")).toEqual([]);
    expect((await list(`destination=${paused.id}`)).map((d) => d.status)).toEqual(["held"]);
    expect((await list("")).map((d) => d.event_id)).toEqual([event_id, event_id, event_id]);
    expect(failing.requests.length).toBeGreaterThanOrEqual(1);

    await expectError(await adminRaw("GET", "/v1/admin/deliveries?status=lost"), 400, "invalid_request");
    // The failing destination would keep retrying after this test; removing it ends that.
    expect((await adminRaw("DELETE", `/v1/admin/destinations/${bad.id}`)).status).toBe(204);
  });

  it("answers 404 in the house shape for unknown ids", async () => {
    const ghost = uniqueId("ghost");
    for (const [method, path, body] of [
      ["GET", `/v1/admin/events/evt_${"0".repeat(32)}`],
      ["POST", `/v1/admin/events/evt_${"0".repeat(32)}/replay`, {}],
      ["GET", `/v1/admin/deliveries/dlv_${ghost}`],
      ["POST", `/v1/admin/deliveries/dlv_${ghost}/retry`],
      ["GET", `/v1/admin/destinations/dst_${ghost}`],
      ["PATCH", `/v1/admin/destinations/dst_${ghost}`, { enabled: false }],
      ["DELETE", `/v1/admin/destinations/dst_${ghost}`],
      ["POST", `/v1/admin/destinations/dst_${ghost}/rotate-secret`],
      ["POST", `/v1/admin/destinations/dst_${ghost}/recover`, { since: "2024-01-01T00:00:00Z" }],
      ["POST", `/v1/admin/tenants/${ghost}/rotate-token`],
      ["POST", `/v1/admin/tenants/${ghost}/destinations`, { url: "https://crm.example.com/x" }],
      ["POST", `/v1/admin/tenants/${ghost}/erase`, { phone: "+66812345678" }],
      ["GET", `/v1/admin/quarantine/qua_${ghost}`],
      ["POST", `/v1/admin/quarantine/qua_${ghost}/replay`],
      ["GET", `/v1/admin/no-such-thing`],
    ] as [string, string, unknown?][]) {
      await expectError(await adminRaw(method, path, body), 404, "not_found");
    }
  });
});

describe("/healthz", () => {
  it("answers 200 {ok:true} without credentials", async () => {
    const res = await call("/healthz");
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expect(await res.json()).toEqual({ ok: true, degraded: [] });
  });
});
