import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN, call, createTenant, postCallback } from "./helpers";

const expectHardened = (res: Response) => {
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(res.headers.get("cache-control")).toBe("no-store");
  expect(res.headers.get("x-frame-options")).toBe("DENY");
  expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
  expect(res.headers.get("access-control-allow-origin")).toBeNull();
};

describe("security headers", () => {
  it("are on every kind of answer: health, admin, ingest success and errors, unknown routes", async () => {
    const tenant = await createTenant();
    const answers = await Promise.all([
      call("/healthz"),
      call("/openapi.json"),
      call("/v1/admin/tenants", { headers: ADMIN }),
      call("/v1/admin/tenants"),
      postCallback(tenant.id, "any", '{"hello":"world"}', tenant.token),
      postCallback(tenant.id, "any", "{not json", tenant.token),
      call("/no/such/route"),
    ]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 401, 200, 400, 404]);
    answers.forEach(expectHardened);
  });

  it("keep CORS closed: a preflight from another origin gets no allow headers", async () => {
    const res = await call("/v1/admin/tenants", {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
    });
    // Admin auth answers before routing: the preflight is refused like any unauthenticated call.
    expect(res.status).toBe(401);
    expectHardened(res);
    expect(res.headers.get("access-control-allow-methods")).toBeNull();
  });

  it("include HSTS on an answer over https", async () => {
    const res = await call("/healthz");
    expect(res.headers.get("strict-transport-security")).toMatch(/^max-age=\d{8,}; includeSubDomains$/);
  });

  it("leave HSTS out over plain http, where it means nothing", async () => {
    const res = await exports.default.fetch(new Request("http://relay.test/healthz"));
    expect(res.status).toBe(200);
    expectHardened(res);
    expect(res.headers.get("strict-transport-security")).toBeNull();
  });
});
