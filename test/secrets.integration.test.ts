import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { encodeBase64 } from "hono/utils/encode";
import { afterEach, describe, expect, it, vi } from "vitest";
import { QUEUES } from "../src/consumer/queue-handler";
import { sha256Hex } from "../src/crypto/hash";
import worker from "../src/index";
import type { DeliveryMessage } from "../src/queue-messages";
import sample from "./fixtures/inbound-transfer.sample.json?raw";
import { admin, call, createDestination, createTenant, fakeCrm, postCallback, uniqueId, waitUntil } from "./helpers";
import { everyDatabase } from "./every-database";

const crms: ReturnType<typeof fakeCrm>[] = [];
/** Console spies only: the fetch spy of helpers.ts must outlive every test. */
const consoleSpies: { mockRestore(): void }[] = [];
afterEach(() => {
  crms.splice(0).forEach((c) => c.restore());
  consoleSpies.splice(0).forEach((s) => s.mockRestore());
});
const crm = (...args: Parameters<typeof fakeCrm>) => {
  const c = fakeCrm(...args);
  crms.push(c);
  return c;
};

/** What a 401 says, without the part that differs on every request. */
async function refusal(res: Response) {
  const body = (await res.json()) as { error: { request_id: string } };
  return { status: res.status, body: { ...body, error: { ...body.error, request_id: "…" } } };
}

/** Near misses of a credential: every position changed, dropped, case-flipped, plus the usual slips. */
function nearMisses(token: string): string[] {
  const out = new Set<string>();
  for (let i = 0; i < token.length; i++) {
    const c = token[i]!;
    out.add(token.slice(0, i) + (c === "A" ? "B" : "A") + token.slice(i + 1));
    out.add(token.slice(0, i) + String.fromCharCode(c.charCodeAt(0) + 1) + token.slice(i + 1));
    out.add(token.slice(0, i) + token.slice(i + 1));
    const flipped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
    if (flipped !== c) out.add(token.slice(0, i) + flipped + token.slice(i + 1));
  }
  for (const n of [1, 4, 8, token.length / 2, token.length - 1]) out.add(token.slice(0, Math.floor(n)));
  for (const n of [1, 4, token.length - 1]) out.add(token.slice(n));
  for (const extra of ["x", "=", "0", "%", token]) out.add(token + extra);
  for (const ws of [" ", "\t", "\n", "\u00a0", "\u200b"]) {
    out.add(ws + token);
    out.add(token + ws);
    out.add(token.slice(0, 10) + ws + token.slice(10));
  }
  out.add(token.toUpperCase());
  out.add(token.toLowerCase());
  out.add(token.repeat(2000));
  out.add("");
  out.delete(token);
  return [...out];
}

describe("ingest token near misses", () => {
  it("answer 200 near misses and the other tenant's token with one and the same 401", async () => {
    const tenant = await createTenant();
    const other = await createTenant();
    const misses = [...nearMisses(tenant.token), other.token];
    expect(misses.length).toBeGreaterThanOrEqual(200);

    const expected = await refusal(await postCallback(`${tenant.id}-nobody`, "inbound-transfer", sample, tenant.token));
    expect(expected.status).toBe(401);
    expect(expected.body).toMatchObject({ ok: false, error: { code: "unauthorized" } });

    for (const token of misses) {
      expect(await refusal(await postCallback(tenant.id, "inbound-transfer", sample, token)), JSON.stringify(token.slice(0, 60))).toEqual(expected);
    }
    // The same through the Authorization header, where surrounding whitespace is not part of the token.
    for (const token of misses.filter((t) => t.trim() === t && !/[\s\u200b]/.test(t) && t !== "").slice(0, 120)) {
      const res = await call(`/v1/callbacks/${tenant.id}/inbound-transfer`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: sample,
      });
      expect(await refusal(res)).toEqual(expected);
    }
    const missing = await call(`/v1/callbacks/${tenant.id}/inbound-transfer`, { method: "POST", headers: { "content-type": "application/json" }, body: sample });
    expect(await refusal(missing)).toEqual(expected);
    for (const scheme of ["Basic", "Token", "Bearer:", ""]) {
      const res = await call(`/v1/callbacks/${tenant.id}/inbound-transfer`, {
        method: "POST",
        headers: { authorization: `${scheme} ${tenant.token}`.trim(), "content-type": "application/json" },
        body: sample,
      });
      expect(await refusal(res), scheme).toEqual(expected);
    }

    // The right token still works, and nothing was stored for the refused ones.
    expect((await postCallback(tenant.id, "inbound-transfer", sample, tenant.token)).status).toBe(200);
    const quarantined = await everyDatabase.prepare("SELECT COUNT(*) AS n FROM quarantine WHERE tenant_id = ?1").bind(tenant.id).first<{ n: number }>();
    expect(quarantined?.n).toBe(0);
  });
});

describe("admin token near misses", () => {
  it("all answer the same 401", async () => {
    const token = env.ADMIN_TOKEN!;
    const misses = nearMisses(token);
    const first = await refusal(await call("/v1/admin/tenants", { headers: { authorization: `Bearer ${misses[0]}` } }));
    expect(first).toMatchObject({ status: 401, body: { ok: false, error: { code: "unauthorized" } } });
    // Headers carry ASCII without CR or LF, trimmed: the other misses are the query's to test.
    const sendable = misses.filter((t) => /^[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?$/.test(t));
    expect(sendable.length).toBeGreaterThan(50);
    for (const miss of sendable) {
      for (const authorization of [`Bearer ${miss}`, miss]) {
        const res = await call("/v1/admin/tenants", { headers: { authorization } });
        expect(await refusal(res), JSON.stringify(authorization.slice(0, 60))).toEqual(first);
      }
    }
    const missing = await call("/v1/admin/tenants");
    expect(await refusal(missing)).toEqual(first);
    expect((await call("/v1/admin/tenants", { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });
});

describe("destination secrets and header values", () => {
  it("never appear in an admin answer, a log line or an alert, and are stored only encrypted", async () => {
    const secretKey = encodeBase64(crypto.getRandomValues(new Uint8Array(32)).buffer);
    const secret = `whsec_${secretKey}`;
    const headerValues = { authorization: `Bearer crm-${crypto.randomUUID()}`, "x-api-key": `key-${crypto.randomUUID()}` };
    const needles = [secret, secretKey, ...Object.values(headerValues)];
    const leaks = (text: string) => needles.filter((n) => text.includes(n));

    const lines: string[] = [];
    for (const method of ["log", "info", "warn", "error", "debug"] as const) {
      consoleSpies.push(
        vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
          lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a) ?? String(a))).join(" "));
        }),
      );
    }

    // A CRM that asks for a retry a day later, then fails; the operator's alert endpoint is down.
    const dest = crm(() => new Response("busy", { status: 503, headers: { "retry-after": "86400" } }));
    const alerts = crm(() => new Response("alerts down", { status: 500 }));
    const tenant = await createTenant();
    const created = await createDestination(tenant.id, { url: dest.url(), secret, headers: headerValues });
    expect(created.secret).toBe(secret);

    const res = await postCallback(tenant.id, "inbound-transfer", sample, tenant.token);
    expect(res.status).toBe(200);
    const { event_id } = (await res.json()) as { event_id: string };
    await waitUntil(async () => dest.requests.length === 1);
    // The custom headers are really in force: they are sent, and only to the CRM.
    expect(dest.requests[0]!.headers).toMatchObject(headerValues);

    const delivery = await waitUntil(async () => {
      const r = await admin("GET", `/v1/admin/deliveries?destination=${created.id}`);
      return r.body.data.find((d: { status: string }) => d.status === "failed");
    });

    // The retry a day later, now: the schedule is used up, so the delivery is dead and an alert goes out.
    const lastChance = { ...env, RETRY_SCHEDULE: "1", ALERT_WEBHOOK_URL: alerts.url("/alerts") };
    dest.answer(() => new Response("broken", { status: 500 }));
    await everyDatabase.prepare("UPDATE deliveries SET next_attempt_at = 0 WHERE id = ?1").bind(delivery.id).run();
    const batch = createMessageBatch<DeliveryMessage>(QUEUES.deliveries, [
      { id: uniqueId("msg"), timestamp: new Date(), attempts: 1, body: { t: "delivery", delivery_id: delivery.id } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch as MessageBatch<unknown>, lastChance, ctx);
    await waitOnExecutionContext(ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toHaveLength(1);
    expect(dest.requests).toHaveLength(2);
    expect(alerts.requests).toHaveLength(1);
    expect(JSON.parse(alerts.requests[0]!.body)).toMatchObject({ type: "relay.delivery.dead", data: { delivery_id: delivery.id } });
    expect(leaks(alerts.requests[0]!.body + JSON.stringify(alerts.requests[0]!.headers))).toEqual([]);

    // Every admin view of the destination, the event and the deliveries.
    const patched = await admin("PATCH", `/v1/admin/destinations/${created.id}`, { headers: { ...headerValues, "x-extra": "1" } });
    expect(patched.body.header_names.sort()).toEqual(["authorization", "x-api-key", "x-extra"]);
    const views = [
      patched,
      await admin("GET", `/v1/admin/tenants/${tenant.id}/destinations`),
      await admin("GET", `/v1/admin/destinations/${created.id}`),
      await admin("GET", `/v1/admin/events/${event_id}`),
      await admin("GET", `/v1/admin/events?tenant=${tenant.id}`),
      await admin("GET", `/v1/admin/deliveries?tenant=${tenant.id}`),
      await admin("GET", `/v1/admin/deliveries/${delivery.id}`),
      await admin("GET", "/v1/admin/tenants?limit=500"),
      await admin("POST", `/v1/admin/destinations/${created.id}/rotate-secret`),
    ];
    for (const view of views) {
      expect(view.status).toBeLessThan(300);
      expect(leaks(JSON.stringify(view.body))).toEqual([]);
    }
    const detail = await admin("GET", `/v1/admin/deliveries/${delivery.id}`);
    expect(detail.body).toMatchObject({ status: "dead", attempt_count: 2 });
    expect((await call("/openapi.json")).status).toBe(200);

    // A line was logged (the alert that did not go through), and no line holds a secret.
    expect(lines.some((l) => l.includes("alert not delivered"))).toBe(true);
    expect(lines.flatMap(leaks)).toEqual([]);

    // At rest: ciphertext only, for the secret, the rotated-out secret and the headers.
    const row = await everyDatabase.prepare("SELECT * FROM destinations WHERE id = ?1").bind(created.id).first<Record<string, unknown>>();
    expect(row!.secret_enc).toMatch(/^v1\.[A-Za-z0-9+/=]+\.[A-Za-z0-9+/=]+$/);
    expect(row!.previous_secret_enc).toMatch(/^v1\./);
    expect(row!.headers_enc).toMatch(/^v1\./);
    expect(leaks(JSON.stringify(row))).toEqual([]);
    const attempts = await everyDatabase.prepare("SELECT * FROM attempts WHERE delivery_id = ?1").bind(delivery.id).all();
    expect(attempts.results).toHaveLength(2);
    expect(leaks(JSON.stringify(attempts.results))).toEqual([]);
  });
});

describe("ingest tokens at rest", () => {
  it("are stored only as their SHA-256 hex digest, also after a rotation", async () => {
    const tenant = await createTenant();
    const rowOf = () => everyDatabase.prepare("SELECT * FROM tenants WHERE id = ?1").bind(tenant.id).first<Record<string, unknown>>();
    const row = await rowOf();
    expect(row!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row!.token_hash).toBe(await sha256Hex(tenant.token));
    expect(JSON.stringify(row)).not.toContain(tenant.token);

    const rotated = await admin("POST", `/v1/admin/tenants/${tenant.id}/rotate-token`);
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.ingest_token as string;
    expect(fresh).not.toBe(tenant.token);
    const after = await rowOf();
    expect(after!.token_hash).toBe(await sha256Hex(fresh));
    expect(JSON.stringify(after)).not.toContain(fresh);

    // The token is shown once: no list or later answer carries it.
    const list = await admin("GET", "/v1/admin/tenants?limit=500");
    expect(JSON.stringify(list.body)).not.toContain(fresh);
    expect(JSON.stringify(list.body)).not.toContain(tenant.token);
    expect(JSON.stringify(list.body)).not.toContain(after!.token_hash as string);
  });
});
