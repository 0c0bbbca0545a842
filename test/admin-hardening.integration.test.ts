import { describe, expect, it } from "vitest";
import { admin, createDestination, createTenant } from "./helpers";

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
