import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN_MAX_BODY_BYTES } from "../src/admin/body-limit";
import worker from "../src/index";
import { ADMIN, admin, call, createDestination, createTenant, uniqueId } from "./helpers";

interface ErrorBody {
  error: { code: string; message: string; issues?: { path: string; message: string }[] };
}

describe("destination headers", () => {
  const reserved = [
    "Host",
    "HOST",
    "Content-Type",
    "content-length",
    "Content-Encoding",
    "Webhook-Id",
    "webhook-signature",
    "Webhook-Anything",
    "User-Agent",
    "Connection",
    "Keep-Alive",
    "Proxy-Authorization",
    "TE",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
  ];

  it.each(reserved)("refuses %s with 400 on create, naming it", async (name) => {
    const tenant = await createTenant();
    const res = await admin<ErrorBody>("POST", `/v1/admin/tenants/${tenant.id}/destinations`, {
      url: "https://crm.example.com/hook",
      headers: { "X-Api-Key": "k", [name]: "v" },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_request");
    expect(res.body.error.issues).toEqual([{ path: `headers.${name}`, message: expect.stringContaining(name) }]);
  });

  it.each(reserved)("refuses %s with 400 on patch, and keeps the headers it had", async (name) => {
    const tenant = await createTenant();
    const dest = await createDestination(tenant.id, { url: "https://crm.example.com/hook", headers: { "X-Api-Key": "k" } });
    const res = await admin<ErrorBody>("PATCH", `/v1/admin/destinations/${dest.id}`, { headers: { [name]: "v" } });
    expect(res.status).toBe(400);
    expect(res.body.error.issues?.[0]?.path).toBe(`headers.${name}`);
    expect((await admin("GET", `/v1/admin/destinations/${dest.id}`)).body.header_names).toEqual(["X-Api-Key"]);
  });

  it("accepts names that only look like reserved ones", async () => {
    const tenant = await createTenant();
    const headers = { "X-Content-Type": "a", "X-Webhook-Id": "b", Authorization: "Bearer c", Hosted: "d", Tenant: "e" };
    const dest = await createDestination(tenant.id, { url: "https://crm.example.com/hook", headers });
    expect((await admin("GET", `/v1/admin/destinations/${dest.id}`)).body.header_names).toEqual(Object.keys(headers));
  });
});

describe("destination URLs", () => {
  it.each([
    ["HTTPS://CRM.Example.COM/hook", "https://crm.example.com/hook"],
    ["https://crm.example.com", "https://crm.example.com/"],
    ["https://crm.example.com:443/a/../b?x=1#frag", "https://crm.example.com/b?x=1#frag"],
    ["https://bücher.example/hook", "https://xn--bcher-kva.example/hook"],
    ["https://crm.example.com/a b", "https://crm.example.com/a%20b"],
  ])("stores %s as %s on create", async (given, stored) => {
    const tenant = await createTenant();
    const dest = await createDestination(tenant.id, { url: given });
    expect((await admin("GET", `/v1/admin/destinations/${dest.id}`)).body.url).toBe(stored);
  });

  it("stores the normalised URL on patch", async () => {
    const tenant = await createTenant();
    const dest = await createDestination(tenant.id, { url: "https://crm.example.com/" });
    const res = await admin("PATCH", `/v1/admin/destinations/${dest.id}`, { url: "HTTPS://Other.Example.com:443/x/./y" });
    expect(res.status).toBe(200);
    expect(res.body.url).toBe("https://other.example.com/x/y");
  });
});

const post = (path: string, body: BodyInit, headers: Record<string, string> = { "content-type": "application/json" }) =>
  call(path, { method: "POST", headers: { ...ADMIN, ...headers }, body });

async function expectError(res: Response, status: number, code: string): Promise<ErrorBody> {
  expect(res.status).toBe(status);
  const body = (await res.json()) as ErrorBody & { error: { request_id: string } };
  expect(body.error).toMatchObject({ code, message: expect.any(String), request_id: res.headers.get("x-request-id") });
  return body;
}

describe("admin request bodies", () => {
  const padded = (bytes: number) => JSON.stringify({ id: "t", name: "x".repeat(bytes - 20) }).slice(0, bytes - 2) + '"}';

  it(`refuses a body over ${ADMIN_MAX_BODY_BYTES} bytes with 413 from its content-length`, async () => {
    const body = padded(ADMIN_MAX_BODY_BYTES + 1);
    expect(body.length).toBe(ADMIN_MAX_BODY_BYTES + 1);
    await expectError(await post("/v1/admin/tenants", body), 413, "payload_too_large");
  });

  it("refuses a chunked body with 413 once it passes the limit", async () => {
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    await expectError(await post("/v1/admin/tenants", stream), 413, "payload_too_large");
  });

  it("reads a body at the limit", async () => {
    const res = await post("/v1/admin/tenants", padded(ADMIN_MAX_BODY_BYTES));
    // Past the limit check: the schema refuses the 64 KiB name.
    const body = await expectError(res, 400, "invalid_request");
    expect(body.error.issues?.[0]?.path).toBe("name");
  });

  it.each([
    ["text/plain", "text/plain"],
    ["form-encoded", "application/x-www-form-urlencoded"],
    ["multipart", "multipart/form-data; boundary=x"],
  ])("refuses a %s content type on a JSON body with 415", async (_what, type) => {
    await expectError(await post("/v1/admin/tenants", '{"id":"t-415"}', { "content-type": type }), 415, "unsupported_media_type");
  });

  it("refuses a body without a content type with 415", async () => {
    await expectError(await post("/v1/admin/tenants", '{"id":"t-415"}', {}), 415, "unsupported_media_type");
  });

  it("takes application/json with a charset", async () => {
    const res = await post("/v1/admin/tenants", JSON.stringify({ id: uniqueId("t") }), { "content-type": "application/json; charset=utf-8" });
    expect(res.status).toBe(201);
  });

  it("names an unknown field in the 400 when creating a tenant", async () => {
    const body = await expectError(await post("/v1/admin/tenants", JSON.stringify({ id: uniqueId("t"), nmae: "typo" })), 400, "invalid_request");
    expect(JSON.stringify(body.error.issues)).toContain("nmae");
  });

  it("names unknown fields in the 400 when creating, patching and recovering a destination and erasing a phone", async () => {
    const tenant = await createTenant();
    const dest = await createDestination(tenant.id, { url: "https://crm.example.com/" });
    const answers = [
      await admin<ErrorBody>("POST", `/v1/admin/tenants/${tenant.id}/destinations`, { url: "https://crm.example.com/", evnet_types: [] }),
      await admin<ErrorBody>("PATCH", `/v1/admin/destinations/${dest.id}`, { urll: "https://crm.example.com/" }),
      await admin<ErrorBody>("POST", `/v1/admin/destinations/${dest.id}/recover`, { since: 0, until: 1 }),
      await admin<ErrorBody>("POST", `/v1/admin/tenants/${tenant.id}/erase`, { phone: "+66812345678", dry_run: true }),
    ];
    expect(answers.map((a) => a.status)).toEqual([400, 400, 400, 400]);
    expect(answers.map((a) => JSON.stringify(a.body.error.issues))).toEqual([
      expect.stringContaining("evnet_types"),
      expect.stringContaining("urll"),
      expect.stringContaining("until"),
      expect.stringContaining("dry_run"),
    ]);
    expect((await admin("GET", `/v1/admin/destinations/${dest.id}`)).body.url).toBe("https://crm.example.com/");
  });

  it("names an unknown field in the 400 when rotating a token or replaying, rather than ignoring a typo", async () => {
    const tenant = await createTenant();
    // A misspelled grace_seconds ignored would leave the old token working for a day.
    const rotate = await admin<ErrorBody>("POST", `/v1/admin/tenants/${tenant.id}/rotate-token`, { grace_second: 0 });
    expect(rotate.status).toBe(400);
    expect(JSON.stringify(rotate.body.error.issues)).toContain("grace_second");
    const replay = await admin<ErrorBody>("POST", `/v1/admin/events/evt_${"0".repeat(64)}/replay`, { destinaton_id: "dst_x" });
    expect(replay.status).toBe(400);
    expect(JSON.stringify(replay.body.error.issues)).toContain("destinaton_id");
  });
});

describe("a wrong method on a route that exists", () => {
  it.each([
    ["DELETE", "/v1/admin/tenants", "GET, HEAD, POST"],
    ["PUT", "/v1/admin/destinations/dst_whatever", "GET, HEAD, PATCH, DELETE"],
    ["GET", "/v1/admin/destinations/dst_whatever/rotate-secret", "POST"],
  ])("%s %s answers 405 with Allow: %s", async (method, path, allow) => {
    const res = await call(path, { method, headers: ADMIN });
    await expectError(res, 405, "method_not_allowed");
    expect(res.headers.get("allow")?.split(", ").sort()).toEqual(allow.split(", ").sort());
  });

  it("answers 405 on ingest and health too, where no admin token is involved", async () => {
    const ingest = await call("/v1/callbacks/acme/inbound-transfer?token=x", { method: "GET" });
    await expectError(ingest, 405, "method_not_allowed");
    expect(ingest.headers.get("allow")).toBe("POST");
    const health = await call("/healthz", { method: "POST" });
    await expectError(health, 405, "method_not_allowed");
    expect(health.headers.get("allow")).toBe("GET, HEAD");
  });

  it("still answers 404 on a path no route has", async () => {
    await expectError(await call("/v1/admin/nothing-here", { method: "DELETE", headers: ADMIN }), 404, "not_found");
  });
});

describe("an ADMIN_TOKEN that cannot be a bearer token", () => {
  it("closes the admin API with a 503 that says why, rather than a 401 no request could pass", async () => {
    const token = "correct horse; battery";
    const res = await worker.fetch(
      new Request("https://relay.test/v1/admin/tenants", { headers: { authorization: `Bearer ${token}` } }),
      { ...env, ADMIN_TOKEN: token },
      createExecutionContext(),
    );
    expect(res.status).toBe(503);
    expect(((await res.json()) as ErrorBody).error).toMatchObject({ code: "admin_not_configured", message: expect.stringContaining("bearer token") });
  });
});
