import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { buildApp } from "../src/app";
import { sha256Hex } from "../src/crypto/hash";
import { rotateTenantToken } from "../src/db/tenants";
import type { Env } from "../src/env";
import { TOKEN_CACHE_MS } from "../src/ingest/tenant-auth";
import { ADMIN, createTenant, freshCallback, uniqueId } from "./helpers";
import { everyDatabase } from "./every-database";

/** Spies of this file only: the fetch spy of helpers.ts must outlive every test. */
const spies: { mockRestore(): void }[] = [];
afterEach(() => spies.splice(0).forEach((s) => s.mockRestore()));

/**
 * The app of this isolate, served with a changed env: the token cache is the
 * module's own, so what one call caches the next one sees.
 */
const app = buildApp();
async function send(path: string, init: RequestInit, overrides: Partial<Env> = {}): Promise<Response> {
  return app.fetch(new Request(`https://relay.test${path}`, init), { ...env, ...overrides }, createExecutionContext());
}

function ingest(tenant: string, token: string, overrides: Partial<Env> = {}): Promise<Response> {
  return send(
    `/v1/callbacks/${encodeURIComponent(tenant)}/inbound-transfer?token=${encodeURIComponent(token)}`,
    { method: "POST", headers: { "content-type": "application/json" }, body: freshCallback() },
    overrides,
  );
}

async function rotate(tenant: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await send(`/v1/admin/tenants/${tenant}/rotate-token`, {
    method: "POST",
    headers: { ...ADMIN, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function status(res: Promise<Response>): Promise<number> {
  const r = await res;
  await r.body?.cancel();
  return r.status;
}

/** A D1 that fails every statement, as D1 does in an outage. */
const downDb = {
  prepare: () => {
    throw new Error("D1_ERROR: storage is down");
  },
} as unknown as D1Database;

/** The real D1, counting the statements prepared on it. */
function countingDb(): { db: D1Database; reads: () => number } {
  let reads = 0;
  const db = new Proxy(everyDatabase, {
    get(target, prop) {
      if (prop === "prepare") {
        return (sql: string) => {
          reads++;
          return target.prepare(sql);
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db, reads: () => reads };
}

/** A D1 that has no tenants and answers at once, counting its reads: 10,000 real lookups would take most of the test's time. */
function emptyDb(): { db: D1Database; reads: () => number } {
  let reads = 0;
  const statement = { bind: () => statement, first: async () => null };
  const db = {
    prepare: () => {
      reads++;
      return statement;
    },
  } as unknown as D1Database;
  return { db, reads: () => reads };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("tenant ids that cannot exist", () => {
  it("answer the same 401 without reading D1, even while D1 is down", async () => {
    const tenant = await createTenant();
    const junk = ["UPPER", "a".repeat(64), "-leading-dash", "_x", "has.dot", "sp ace", "ümlaut", "x/../y", "%00"];
    const wrong = await send(`/v1/callbacks/${tenant.id}/inbound-transfer?token=rit_wrong`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: freshCallback(),
    });
    const expected = ((await wrong.json()) as { error: { code: string; message: string } }).error;
    for (const id of junk) {
      const res = await ingest(id, tenant.token, { DB: downDb });
      expect(res.status, id).toBe(401);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect({ code: error.code, message: error.message }).toEqual({ code: expected.code, message: expected.message });
    }
  });

  it("10,000 junk ids do not push a real tenant out of the cache", async () => {
    const tenant = await createTenant();
    expect(await status(ingest(tenant.id, tenant.token))).toBe(200);

    const counted = emptyDb();
    for (let i = 0; i < 10_000; i += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, j) =>
          Promise.all([
            // Shaped like a tenant id, so it is looked up once and remembered as unknown.
            status(ingest(`junk-${i + j}-${uniqueId("j")}`, "rit_x", { DB: counted.db })),
            // Not shaped like one: refused with no lookup at all.
            status(ingest(`JUNK-${i + j}`, "rit_x", { DB: counted.db })),
          ]),
        ),
      );
    }
    expect(counted.reads()).toBe(10_000);

    // Served from the cache: with D1 down, an evicted tenant would get 503.
    expect(await status(ingest(tenant.id, tenant.token, { DB: downDb }))).toBe(200);
  });
});

describe("D1 errors", () => {
  it("a known tenant is served from its stale cached hash; a tenant never seen gets 503", async () => {
    const tenant = await createTenant();
    const never = await createTenant();
    expect(await status(ingest(tenant.id, tenant.token))).toBe(200);

    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    spies.push(logged, vi.spyOn(Date, "now").mockReturnValue(Date.now() + TOKEN_CACHE_MS + 1_000));
    expect(await status(ingest(tenant.id, tenant.token, { DB: downDb }))).toBe(200);
    expect(await status(ingest(tenant.id, "rit_wrong", { DB: downDb }))).toBe(401);
    expect(await status(ingest(never.id, never.token, { DB: downDb }))).toBe(503);
    expect(logged).toHaveBeenCalled();
    const logs = JSON.stringify(logged.mock.calls);
    for (const token of [tenant.token, never.token]) expect(logs).not.toContain(token);
  });
});

describe("rotate-token", () => {
  it("the new token works at once, the old one during grace_seconds, and not after", async () => {
    const tenant = await createTenant();
    const rotated = await rotate(tenant.id, { grace_seconds: 1 });
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.ingest_token as string;
    expect(Date.parse(rotated.body.previous_token_expires_at) - Date.now()).toBeLessThanOrEqual(1_000);

    expect(await status(ingest(tenant.id, fresh))).toBe(200);
    expect(await status(ingest(tenant.id, tenant.token))).toBe(200);
    await sleep(1_100);
    expect(await status(ingest(tenant.id, tenant.token))).toBe(401);
    expect(await status(ingest(tenant.id, fresh))).toBe(200);

    const row = await everyDatabase.prepare("SELECT * FROM tenants WHERE id = ?1").bind(tenant.id).first<Record<string, unknown>>();
    expect(row!.previous_token_hash).toBe(await sha256Hex(tenant.token));
    expect(JSON.stringify(row)).not.toContain(tenant.token);
  });

  it("without a body, the old token keeps working for a day", async () => {
    const tenant = await createTenant();
    const rotated = await rotate(tenant.id);
    expect(rotated.status).toBe(200);
    const expires = Date.parse(rotated.body.previous_token_expires_at);
    expect(Math.abs(expires - (Date.now() + 86_400_000))).toBeLessThan(60_000);
    expect(await status(ingest(tenant.id, tenant.token))).toBe(200);
    expect(await status(ingest(tenant.id, rotated.body.ingest_token))).toBe(200);
  });

  it("grace_seconds 0 ends the old token at once", async () => {
    const tenant = await createTenant();
    expect(await status(ingest(tenant.id, tenant.token))).toBe(200);
    const rotated = await rotate(tenant.id, { grace_seconds: 0 });
    expect(rotated.status).toBe(200);
    expect(rotated.body.previous_token_expires_at).toBeNull();
    expect(await status(ingest(tenant.id, tenant.token))).toBe(401);
    expect(await status(ingest(tenant.id, rotated.body.ingest_token))).toBe(200);
  });

  it("refuses a grace_seconds that is negative, fractional or over 30 days", async () => {
    const tenant = await createTenant();
    for (const grace_seconds of [-1, 1.5, 30 * 86_400 + 1, "60"]) {
      expect((await rotate(tenant.id, { grace_seconds })).status, String(grace_seconds)).toBe(400);
    }
    expect(await status(ingest(tenant.id, tenant.token))).toBe(200);
  });

  it("an isolate that cached the old hash accepts the new token at once", async () => {
    const tenant = await createTenant();
    expect(await status(ingest(tenant.id, tenant.token))).toBe(200);
    // The rotation happens in another isolate: this one's cache is not told.
    const fresh = `rit_${uniqueId("fresh")}`;
    await rotateTenantToken(everyDatabase, tenant.id, await sha256Hex(fresh), Date.now() + 60_000);

    expect(await status(ingest(tenant.id, fresh))).toBe(200);
    expect(await status(ingest(tenant.id, tenant.token))).toBe(200);
  });

  it("a flood of wrong tokens re-reads D1 at most once per interval", async () => {
    const tenant = await createTenant();
    expect(await status(ingest(tenant.id, tenant.token))).toBe(200);

    const counted = countingDb();
    const answers = await Promise.all(Array.from({ length: 50 }, () => status(ingest(tenant.id, "rit_wrong", { DB: counted.db }))));
    expect(answers.every((s) => s === 401)).toBe(true);
    expect(counted.reads()).toBe(1);
  });
});

describe("the warm path", () => {
  it("hashes no token it has verified before: a callback's one SHA-256 is its event id", async () => {
    const tenant = await createTenant();
    expect(await status(ingest(tenant.id, tenant.token))).toBe(200);
    const digest = vi.spyOn(crypto.subtle, "digest");
    spies.push(digest);
    expect(await status(ingest(tenant.id, tenant.token))).toBe(200);
    expect(digest).toHaveBeenCalledTimes(1);
    expect(await status(ingest(tenant.id, tenant.token.slice(0, -1) + (tenant.token.endsWith("A") ? "B" : "A")))).toBe(401);
  });

  it("forgets a verified token once D1 no longer has its hash (rotated in another isolate with no grace)", async () => {
    const tenant = await createTenant();
    expect(await status(ingest(tenant.id, tenant.token))).toBe(200);
    const fresh = `rit_${uniqueId("fresh")}`;
    await rotateTenantToken(everyDatabase, tenant.id, await sha256Hex(fresh), null);
    // Until the cache ages out this isolate may still accept it (README); after, it must not.
    spies.push(vi.spyOn(Date, "now").mockReturnValue(Date.now() + TOKEN_CACHE_MS + 1_000));
    expect(await status(ingest(tenant.id, tenant.token))).toBe(401);
    expect(await status(ingest(tenant.id, fresh))).toBe(200);
  });

  it("keeps a verified previous token only until its grace period ends", async () => {
    const tenant = await createTenant();
    expect(await status(ingest(tenant.id, tenant.token))).toBe(200);
    const fresh = `rit_${uniqueId("fresh")}`;
    const graceEnds = Date.now() + 60_000;
    await rotateTenantToken(everyDatabase, tenant.id, await sha256Hex(fresh), graceEnds);
    expect(await status(ingest(tenant.id, fresh))).toBe(200);
    expect(await status(ingest(tenant.id, tenant.token))).toBe(200);
    spies.push(vi.spyOn(Date, "now").mockReturnValue(graceEnds + 1));
    expect(await status(ingest(tenant.id, tenant.token))).toBe(401);
    expect(await status(ingest(tenant.id, fresh))).toBe(200);
  });
});
