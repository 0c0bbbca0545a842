import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { QUEUES } from "../src/consumer/queue-handler";
import { MAX_JSON_DEPTH } from "../src/ingest/parse-body";
import worker from "../src/index";
import type { CallbackMessage } from "../src/queue-messages";
import sample from "./fixtures/inbound-transfer.sample.json?raw";
import { ADMIN, admin, call, createDestination, createTenant, deliveriesOfEvent, fakeCrm, postCallback, storedPayload, uniqueId, waitUntil } from "./helpers";
import { everyDatabase } from "./every-database";

const crms: ReturnType<typeof fakeCrm>[] = [];
afterEach(() => crms.splice(0).forEach((c) => c.restore()));
const crm = (...args: Parameters<typeof fakeCrm>) => {
  const c = fakeCrm(...args);
  crms.push(c);
  return c;
};

/** The deployed default: only https to public hosts. One object, so its parsed config is reused. */
const strictEnv = { ...env, ALLOW_INSECURE_DESTINATIONS: "false" };

function strictAdmin(method: string, path: string, body?: unknown) {
  return worker.fetch(
    new Request(`https://relay.test${path}`, {
      method,
      headers: { ...ADMIN, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    strictEnv,
    createExecutionContext(),
  );
}

interface HouseError {
  ok: false;
  error: { code: string; message: string; request_id: string; issues?: { path: string; message: string }[] };
}

/** A 4xx in the house shape: never a 5xx, never a stack trace, always a request id. */
async function expectHouse4xx(res: Response, status?: number | number[], code?: string): Promise<HouseError> {
  const text = await res.text();
  expect(res.status, text.slice(0, 300)).toBeGreaterThanOrEqual(400);
  expect(res.status, text.slice(0, 300)).toBeLessThan(500);
  if (status !== undefined) expect([status].flat()).toContain(res.status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  expect(text).not.toMatch(/\bat .+:\d+:\d+|node_modules|src\//);
  const body = JSON.parse(text) as HouseError;
  expect(body).toEqual({
    ok: false,
    error: expect.objectContaining({ code: expect.any(String), message: expect.any(String), request_id: expect.any(String) }),
  });
  expect(body.error.request_id).toBe(res.headers.get("x-request-id"));
  if (code !== undefined) expect(body.error.code).toBe(code);
  return body;
}

const bytes = (...parts: (string | number[])[]) => {
  const enc = new TextEncoder();
  const chunks = parts.map((p) => (typeof p === "string" ? enc.encode(p) : new Uint8Array(p)));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
};

const nested = (depth: number) => '{"a":'.repeat(depth - 1) + "{}" + "}".repeat(depth - 1);

/** Test titles for long inputs: the start of the input and its length. */
const titled = (inputs: string[]) => inputs.map((s) => [s.length > 100 ? `${s.slice(0, 40)}… (${s.length} characters)` : s, s] as const);

/** A body that arrives in `chunk`-byte pieces, `delayMs` apart, with no content-length. */
function trickle(text: string, chunk: number, delayMs: number): ReadableStream<Uint8Array> {
  const data = new TextEncoder().encode(text);
  let at = 0;
  return new ReadableStream({
    async pull(controller) {
      if (at >= data.byteLength) return controller.close();
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      controller.enqueue(data.slice(at, at + chunk));
      at += chunk;
    },
  });
}

const ingestKinds = ["inbound-transfer", "inbound-call-end", "pds", "qa-report", "workflow", "any"];
const maxBody = 1_048_576;

const count = async (sql: string, ...args: unknown[]) =>
  (await everyDatabase.prepare(sql).bind(...args).first<{ n: number }>())!.n;

describe("destination URLs under the strict default", () => {
  it.each([
    "http://crm.example.com/hook",
    "https://127.0.0.1/hook",
    "https://2130706433/hook",
    "https://localhost./hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://metadata.google.internal/",
    "https://10.1.2.3/",
    "https://[::ffff:127.0.0.1]/",
    "https://[fd00::1]/",
    "https://good.com@crm.example.com/",
    "ftp://crm.example.com/",
  ])("refuses to create a destination at %s", async (url) => {
    const tenant = await createTenant();
    const res = await strictAdmin("POST", `/v1/admin/tenants/${tenant.id}/destinations`, { url });
    const body = await expectHouse4xx(res, 400, "invalid_request");
    expect(body.error.issues).toEqual([{ path: "url", message: expect.any(String) }]);
    expect(await count("SELECT COUNT(*) AS n FROM destinations WHERE tenant_id = ?1", tenant.id)).toBe(0);
  });

  it("refuses the same on PATCH, and accepts a public https URL", async () => {
    const tenant = await createTenant();
    const ok = await strictAdmin("POST", `/v1/admin/tenants/${tenant.id}/destinations`, { url: "https://crm.example.com/hook" });
    expect(ok.status).toBe(201);
    const { id } = (await ok.json()) as { id: string };
    const res = await strictAdmin("PATCH", `/v1/admin/destinations/${id}`, { url: "https://127.1/" });
    const body = await expectHouse4xx(res, 400, "invalid_request");
    expect(body.error.issues?.[0]?.path).toBe("url");
    const row = await everyDatabase.prepare("SELECT url FROM destinations WHERE id = ?1").bind(id).first<{ url: string }>();
    expect(row?.url).toBe("https://crm.example.com/hook");
  });

  it("never connects to a destination stored while allowed but attempted under the strict policy", async () => {
    const tenant = await createTenant();
    const plain = crm();
    const control = crm();
    // Saved under the test env, which allows insecure destinations.
    const refusedUrls = [`http://${plain.host}/hook`, "https://127.0.0.1:9/hook", "https://localhost/hook"];
    const refused = await Promise.all(refusedUrls.map((url) => createDestination(tenant.id, { url })));
    const allowed = await createDestination(tenant.id, { url: control.url() });

    const fetchSpy = vi.mocked(globalThis.fetch);
    const callsBefore = fetchSpy.mock.calls.length;
    const eventId = `evt_${crypto.randomUUID().replace(/-/g, "")}`;
    const message: CallbackMessage = {
      t: "callback",
      event_id: eventId,
      tenant_id: tenant.id,
      kind: "inbound-transfer",
      type: "airudder.inbound.transfer",
      received_at: Date.now(),
      body: sample,
    };
    const batch = createMessageBatch<CallbackMessage>(QUEUES.callbacks, [{ id: uniqueId("msg"), timestamp: new Date(), attempts: 1, body: message }]);
    const ctx = createExecutionContext();
    await worker.queue(batch as MessageBatch<unknown>, strictEnv, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toHaveLength(1);

    expect(control.requests).toHaveLength(1);
    expect(plain.requests).toHaveLength(0);
    const hosts = fetchSpy.mock.calls.slice(callsBefore).map(([input]) => new URL(input instanceof Request ? input.url : String(input)).hostname);
    expect(hosts).not.toContain(plain.host);
    expect(hosts).not.toContain("127.0.0.1");
    expect(hosts).not.toContain("localhost");

    const deliveries = await deliveriesOfEvent(eventId);
    const byDest = new Map(deliveries.map(({ delivery, attempts: [a] }) => [delivery.destination_id, { status: delivery.status, status_code: a?.status_code, error: a?.error }]));
    for (const d of refused) {
      expect(byDest.get(d.id)).toMatchObject({ status: "dead", status_code: null, error: expect.stringMatching(/^destination refused: /) });
    }
    expect(byDest.get(allowed.id)).toMatchObject({ status: "delivered", status_code: 200, error: null });
  });

  it("does not follow a redirect: a 302 is a failed attempt and the target is never asked", async () => {
    const target = crm();
    const redirecting = crm(() => new Response(null, { status: 302, headers: { location: target.url("/elsewhere") } }));
    const tenant = await createTenant();
    const dest = await createDestination(tenant.id, { url: redirecting.url() });
    const res = await postCallback(tenant.id, "inbound-transfer", sample, tenant.token);
    expect(res.status).toBe(200);
    const { event_id } = (await res.json()) as { event_id: string };
    const delivery = await waitUntil(async () => {
      const r = await admin("GET", `/v1/admin/deliveries?destination=${dest.id}`);
      return r.body.data.find((d: { event_id: string; attempt_count: number }) => d.event_id === event_id && d.attempt_count > 0);
    });
    expect(delivery).toMatchObject({ status: "failed", last_status_code: 302, attempt_count: 1 });
    expect(delivery.next_attempt_at).toEqual(expect.any(String));
    expect(redirecting.requests).toHaveLength(1);
    expect(target.requests).toHaveLength(0);
    // Its retry must not outlive the fake CRM and go out to the real network.
    expect((await admin("DELETE", `/v1/admin/destinations/${dest.id}`)).status).toBe(204);
  });
});

describe("hostile ingest requests", () => {
  /** Only ever sent rejected requests: nothing may be stored for it but quarantine. */
  let hostile: { id: string; token: string };
  /** Requests that are odd but legitimate go here, and must work. */
  let tolerant: { id: string; token: string };
  const ingest = (body: BodyInit | null, init: { kind?: string; headers?: Record<string, string>; tenant?: typeof hostile } = {}) => {
    const t = init.tenant ?? hostile;
    return call(`/v1/callbacks/${t.id}/${init.kind ?? "any"}?token=${encodeURIComponent(t.token)}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...init.headers },
      body,
    });
  };

  beforeAll(async () => {
    hostile = await createTenant();
    tolerant = await createTenant();
  });

  afterAll(async () => {
    // Let the consumer catch up with anything that was (wrongly) queued.
    await new Promise((r) => setTimeout(r, 2500));
    expect(await count("SELECT COUNT(*) AS n FROM events WHERE tenant_id = ?1", hostile.id)).toBe(0);
    expect(await count("SELECT COUNT(*) AS n FROM inbox WHERE tenant_id = ?1", hostile.id)).toBe(0);
    expect(await count("SELECT COUNT(*) AS n FROM deliveries WHERE tenant_id = ?1", hostile.id)).toBe(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const health = await call("/healthz");
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true, degraded: [] });
  });

  it.each([5, 17, 100, 600, sample.length - 1])("refuses JSON truncated to %i characters", async (n) => {
    await expectHouse4xx(await ingest(sample.slice(0, n), { kind: "inbound-transfer" }), 400, "invalid_json");
  });

  it.each([
    ["an array", "[]"],
    ["an array of objects", '[{"callid":"x"}]'],
    ["a string", '"callid"'],
    ["a number", "42"],
    ["true", "true"],
    ["null", "null"],
    ["an empty body", ""],
    ["whitespace", "  \n\t "],
    ["two objects", '{"a":1}{"b":2}'],
    ["a trailing comma", '{"a":1,}'],
    ["single quotes", "{'a':1}"],
    ["NaN", '{"a":NaN}'],
    ["a comment", '{"a":1 /* hi */}'],
  ])("refuses %s with invalid_json", async (_what, body) => {
    for (const kind of ingestKinds) await expectHouse4xx(await ingest(body, { kind }), 400, "invalid_json");
  });

  it(`refuses JSON nested deeper than ${MAX_JSON_DEPTH} levels, up to 100000 deep`, async () => {
    for (const depth of [MAX_JSON_DEPTH + 1, 100, 100_000]) {
      const body = await expectHouse4xx(await ingest(nested(depth)), 400, "invalid_json");
      expect(body.error.message).toMatch(/nested/);
    }
    const arrays = '{"a":' + "[".repeat(100_000) + "]".repeat(100_000) + "}";
    await expectHouse4xx(await ingest(arrays, { kind: "pds" }), 400, "invalid_json");
  });

  it("accepts JSON exactly as deep as the limit", async () => {
    const res = await ingest(nested(MAX_JSON_DEPTH), { tenant: tolerant });
    expect(res.status).toBe(200);
  });

  it("accepts or refuses __proto__, constructor and prototype keys, and is never polluted by them", async () => {
    const bodies = [
      '{"__proto__":{"polluted":true},"callid":"p1","transfer_status":"2"}',
      '{"constructor":{"prototype":{"polluted":true}},"callid":"p2","robot_id":"1"}',
      '{"type":"agent_status","body":{"__proto__":{"polluted":true},"callid":"p3"}}',
      '{"TaskID":"t","Sign":"s","__proto__":{"polluted":true},"prototype":{"polluted":true}}',
      '{"workflow_id":"w","__proto__":{"polluted":true},"status":{"__proto__":{"polluted":true}}}',
      '{"__proto__":[],"constructor":"x","prototype":null,"hasOwnProperty":1,"toString":2,"valueOf":{}}',
    ];
    const accepted: string[] = [];
    for (const body of bodies) {
      for (const kind of ingestKinds) {
        const res = await ingest(body, { kind, tenant: tolerant });
        if (res.status === 200) accepted.push(((await res.json()) as { event_id: string }).event_id);
        else await expectHouse4xx(res, 422, "invalid_payload");
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }
    }
    expect(accepted.length).toBeGreaterThan(0);
    // The consumer parses and stores them too: still no pollution, and the payload is kept as sent.
    await waitUntil(async () => (await count("SELECT COUNT(*) AS n FROM events WHERE id IN (SELECT value FROM json_each(?1))", JSON.stringify(accepted))) === new Set(accepted).size);
    for (const id of new Set(accepted)) expect(bodies).toContain(await storedPayload(id));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
  });

  it.each([
    ["a lone continuation byte", bytes('{"a":"', [0x80], '"}')],
    ["an invalid lead byte", bytes('{"a":"', [0xff], '"}')],
    ["a truncated sequence", bytes('{"a":"', [0xe0, 0xb8], '"}')],
    ["an overlong slash", bytes('{"a":"', [0xc0, 0xaf], '"}')],
    ["an overlong NUL", bytes('{"a":"', [0xc0, 0x80], '"}')],
    ["a three-byte overlong", bytes('{"a":"', [0xe0, 0x80, 0xaf], '"}')],
    ["an encoded surrogate", bytes('{"a":"', [0xed, 0xa0, 0x80], '"}')],
    ["a code point above U+10FFFF", bytes('{"a":"', [0xf4, 0x90, 0x80, 0x80], '"}')],
    ["UTF-16", bytes([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00])],
  ])("refuses %s as invalid UTF-8", async (_what, body) => {
    const res = await expectHouse4xx(await ingest(body), 400, "invalid_json");
    expect(res.error.message).toMatch(/UTF-8/);
  });

  it("accepts a UTF-8 byte order mark before the JSON", async () => {
    const res = await ingest(bytes([0xef, 0xbb, 0xbf], sample), { kind: "inbound-transfer", tenant: tolerant });
    expect(res.status).toBe(200);
  });

  it("refuses a body over MAX_BODY_BYTES that declares its length, before reading it", async () => {
    const big = new TextEncoder().encode(JSON.stringify({ callid: "big", pad: "x".repeat(4 * maxBody) }));
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled >= big.byteLength) return controller.close();
        controller.enqueue(big.slice(pulled, pulled + 64 * 1024));
        pulled += 64 * 1024;
      },
    });
    await expectHouse4xx(await ingest(body, { headers: { "content-length": String(big.byteLength) } }), 413, "payload_too_large");
    expect(pulled).toBeLessThan(maxBody);
  });

  it("refuses a chunked body over MAX_BODY_BYTES, without a content-length", async () => {
    const big = JSON.stringify({ callid: "big", pad: "x".repeat(maxBody + 10) });
    await expectHouse4xx(await ingest(trickle(big, 64 * 1024, 0)), 413, "payload_too_large");
    // An endless stream is cut off too.
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 16 * 1024;
        controller.enqueue(new Uint8Array(16 * 1024).fill(0x20));
      },
    });
    await expectHouse4xx(await ingest(endless), 413, "payload_too_large");
    expect(sent).toBeLessThan(4 * maxBody);
  });

  it("accepts a body of exactly MAX_BODY_BYTES", async () => {
    const head = '{"callid":"edge","pad":"';
    const body = head + "x".repeat(maxBody - head.length - 2) + '"}';
    expect(body.length).toBe(maxBody);
    const res = await ingest(trickle(body, 100 * 1024, 0), { tenant: tolerant });
    expect(res.status).toBe(200);
  });

  it("accepts a slow body that arrives in small pieces", async () => {
    const res = await ingest(trickle(sample, 256, 10), { kind: "inbound-transfer", tenant: tolerant });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, event_id: expect.stringMatching(/^evt_/) });
  });

  it.each(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", "application/jsonp", "text/json-ish", "application/json, text/plain"])(
    "refuses content type %s",
    async (type) => {
      await expectHouse4xx(await ingest(sample, { kind: "inbound-transfer", headers: { "content-type": type } }), 415, "unsupported_media_type");
    },
  );

  it.each(["application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.airudder+json", " application/json "])(
    "accepts content type %j",
    async (type) => {
      const res = await ingest(sample, { kind: "inbound-transfer", tenant: tolerant, headers: { "content-type": type } });
      expect(res.status).toBe(200);
    },
  );

  it("tolerates a missing content type", async () => {
    const res = await call(`/v1/callbacks/${tolerant.id}/inbound-transfer?token=${tolerant.token}`, {
      method: "POST",
      body: new TextEncoder().encode(sample),
    });
    expect(res.headers.get("content-type") ?? "").not.toMatch(/text/);
    expect(res.status).toBe(200);
  });

  it("refuses a 100 KB token, and a 100 KB Authorization header, with the same 401", async () => {
    const long = "rit_" + "A".repeat(100_000);
    await expectHouse4xx(await postCallback(hostile.id, "any", sample, long), 401, "unauthorized");
    const res = await call(`/v1/callbacks/${hostile.id}/any`, {
      method: "POST",
      headers: { authorization: `Bearer ${long}`, "content-type": "application/json" },
      body: sample,
    });
    await expectHouse4xx(res, 401, "unauthorized");
  });

  it("ignores a 100 KB junk query parameter next to a good token", async () => {
    const res = await call(`/v1/callbacks/${tolerant.id}/inbound-transfer?junk=${"j".repeat(100_000)}&token=${tolerant.token}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: sample,
    });
    expect(res.status).toBe(200);
  });

  it.each(["PUT", "DELETE", "PATCH", "GET", "OPTIONS"])("answers %s on the ingest path in the house shape", async (method) => {
    const res = await call(`/v1/callbacks/${hostile.id}/any?token=${hostile.token}`, {
      method,
      headers: { "content-type": "application/json" },
      body: method === "GET" || method === "OPTIONS" ? undefined : sample,
    });
    await expectHouse4xx(res, [404, 405]);
  });

  it("answers HEAD on the ingest path with a 4xx and no body", async () => {
    const res = await call(`/v1/callbacks/${hostile.id}/any?token=${hostile.token}`, { method: "HEAD" });
    expect([404, 405]).toContain(res.status);
  });

  it.each(titled([
    "/v1/callbacks/../admin/tenants",
    "/v1/callbacks/%2e%2e/admin/tenants",
    "/v1/callbacks/%2E%2E/%2e%2e/v1/admin/tenants",
    "/v1/callbacks/..%2fadmin/tenants",
    "/v1/callbacks/%2e%2e%2f%2e%2e%2fadmin/tenants",
    "/v1/callbacks/TENANT/..%2F..%2Fadmin%2Ftenants",
    "/v1/callbacks/TENANT%2Fany/any",
    "/v1/callbacks/TENANT%2F/any",
    "//v1/callbacks/TENANT/any",
    "/v1//callbacks/TENANT/any",
    "/v1/callbacks//TENANT/any",
    "/v1/callbacks/TENANT//any",
    "/v1/callbacks/TENANT/any/",
    "/v1/callbacks/TENANT/any/extra",
    "/v1/callbacks/TENANT%00/any",
    "/v1/callbacks/%00TENANT/any",
    "/v1/callbacks/TENANT%00.x/any",
    "/v1/callbacks/TENANT/any%00",
    "/v1/callbacks/TENANT/%61ny%00",
    "/v1/callbacks/%2520TENANT/any",
    "/v1/callbacks/TENANT%20/any",
    "/v1/callbacks/%E2%80%AETENANT/any",
    "/v1/callbacks/%C0%AE%C0%AE/any",
    "/v1/callbacks/%ff%fe/any",
    "/v1/callbacks/%/any",
    "/v1/callbacks/%zz/any",
    "/v1/callbacks/UPPER/any",
    `/v1/callbacks/${"t".repeat(100_000)}/any`,
    `/v1/callbacks/TENANT/${"any".repeat(30_000)}`,
  ]))("refuses the path trick %s without storing anything", async (_title, raw) => {
    const path = raw.replace(/TENANT/g, hostile.id).replace("UPPER", hostile.id.toUpperCase());
    const res = await call(`${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(hostile.token)}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: sample,
    });
    await expectHouse4xx(res, [401, 404, 405]);
  });

  it("keeps what fails a schema in quarantine, and nothing else", async () => {
    const res = await ingest('{"callid":""}', { kind: "inbound-transfer" });
    await expectHouse4xx(res, 422, "invalid_payload");
    expect(await count("SELECT COUNT(*) AS n FROM quarantine WHERE tenant_id = ?1", hostile.id)).toBeGreaterThan(0);
  });
});

describe("hostile admin requests", () => {
  const raw = (method: string, path: string, init: { headers?: Record<string, string>; body?: BodyInit } = {}) =>
    call(path, { method, headers: { ...ADMIN, "content-type": "application/json", ...init.headers }, body: init.body });

  it.each([
    ["no header", {}],
    ["an empty bearer", { authorization: "Bearer " }],
    ["Basic auth", { authorization: `Basic ${btoa("admin:test-admin-token")}` }],
    ["the token without a scheme", { authorization: "test-admin-token" }],
    ["a near miss", { authorization: "Bearer test-admin-tokeN" }],
    ["a prefix", { authorization: "Bearer test-admin-toke" }],
    ["a 100 KB token", { authorization: `Bearer ${"x".repeat(100_000)}` }],
  ])("refuses %s with 401", async (_what, headers) => {
    const res = await call("/v1/admin/tenants", { headers });
    await expectHouse4xx(res, 401, "unauthorized");
  });

  it("answers an unauthenticated path trick towards the admin API with 401", async () => {
    for (const path of ["/v1/callbacks/../admin/tenants", "/v1/callbacks/%2e%2e/admin/tenants", "/v1/./admin/tenants", "/v1/admin/./tenants"]) {
      await expectHouse4xx(await call(path), 401, "unauthorized");
    }
  });

  it.each([
    ["truncated JSON", '{"id":"x'],
    ["an array", '[{"id":"x"}]'],
    ["a string", '"x"'],
    ["null", "null"],
    ["an empty body", ""],
    // Under the 64 KiB admin body limit, so that the parser and schema meet them.
    ["a deeply nested body", '{"id":' + nested(10_000) + "}"],
    ["invalid UTF-8", bytes('{"id":"', [0xc0, 0xaf], '"}')],
    ["an id with a NUL", '{"id":"a\\u0000b"}'],
    ["an id with a slash", '{"id":"../etc"}'],
    ["a 60 KB id", JSON.stringify({ id: "a".repeat(60_000) })],
    ["a number id", '{"id":1}'],
  ])("refuses to create a tenant from %s", async (_what, body) => {
    await expectHouse4xx(await raw("POST", "/v1/admin/tenants", { body }), 400);
  });

  it("copes with a deeply nested unknown field in an admin body", async () => {
    const res = await raw("POST", "/v1/admin/tenants", { body: `{"id":"${uniqueId("deep")}","x":${nested(10_000)}}` });
    await expectHouse4xx(res, 400);
  });

  it("refuses a body that is not declared as JSON", async () => {
    const res = await raw("POST", "/v1/admin/tenants", { headers: { "content-type": "text/plain" }, body: JSON.stringify({ id: uniqueId("ct") }) });
    await expectHouse4xx(res, 415, "unsupported_media_type");
  });

  it("is never polluted by __proto__ in an admin body", async () => {
    const id = uniqueId("proto");
    const res = await raw("POST", "/v1/admin/tenants", {
      body: `{"id":"${id}","__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}`,
    });
    expect([201, 400]).toContain(res.status);
    const tenant = await createTenant();
    const dest = await raw("POST", `/v1/admin/tenants/${tenant.id}/destinations`, {
      body: `{"url":"https://crm.example.com/","headers":{"__proto__":{"polluted":"x"},"x-a":"1"},"filter":{"__proto__":{"polluted":true}}}`,
    });
    expect(dest.status).toBeLessThan(500);
    if (dest.status >= 400) await expectHouse4xx(dest);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each(titled([
    "/v1/admin/tenants?limit=abc",
    "/v1/admin/tenants?limit=-1",
    "/v1/admin/tenants?limit=0",
    "/v1/admin/tenants?limit=1e400",
    "/v1/admin/tenants?limit=99999999999999999999999",
    "/v1/admin/tenants?cursor=!!!",
    "/v1/admin/tenants?cursor=" + btoa("[1,2]"),
    "/v1/admin/tenants?cursor=" + btoa('{"id":{"$gt":""}}'),
    "/v1/admin/events?cursor=" + "A".repeat(100_000),
    "/v1/admin/events?since=yesterday",
    "/v1/admin/events?until=%00",
    "/v1/admin/deliveries?status=everything",
    "/v1/admin/stats?since=not-a-time",
  ]))("refuses the bad query %s with 400", async (_title, path) => {
    await expectHouse4xx(await raw("GET", path), 400);
  });

  it.each(titled([
    "/v1/admin/events/%00",
    "/v1/admin/events/evt_%2F..%2F..",
    `/v1/admin/events/${"e".repeat(100_000)}`,
    "/v1/admin/deliveries/%ff",
    "/v1/admin/destinations/..%2Ftenants",
    "/v1/admin/quarantine/%E2%80%AE",
    "/v1/admin/nothing-here",
    "/v1/admin/destinations/%00",
  ]))("answers the unknown resource %s with 404", async (_title, path) => {
    await expectHouse4xx(await raw("GET", path), 404);
  });

  it.each([
    ["PUT", "/v1/admin/tenants"],
    ["DELETE", "/v1/admin/tenants"],
    ["PATCH", "/v1/admin/tenants"],
    ["PROPFIND", "/v1/admin/events"],
  ])("answers %s %s in the house shape", async (method, path) => {
    const res = await raw(method, path, { body: "{}" });
    await expectHouse4xx(res, [404, 405]);
  });

  it.each([
    ["a too long URL", { url: "https://crm.example.com/" + "a".repeat(3000) }],
    ["a header value with CR LF", { url: "https://crm.example.com/", headers: { "x-a": "1\r\nx-injected: yes" } }],
    ["a header value with NUL", { url: "https://crm.example.com/", headers: { "x-a": "1\u0000" } }],
    ["a header name with a colon", { url: "https://crm.example.com/", headers: { "x-a:b": "1" } }],
    ["a non-string header value", { url: "https://crm.example.com/", headers: { "x-a": 1 } }],
    ["an unknown event type", { url: "https://crm.example.com/", event_types: ["airudder.everything"] }],
    ["a secret that is not whsec_", { url: "https://crm.example.com/", secret: "hunter2" }],
    ["a URL that is not a string", { url: ["https://crm.example.com/"] }],
    ["a javascript: URL", { url: "javascript:alert(1)" }],
  ])("refuses a destination with %s", async (_what, body) => {
    const tenant = await createTenant();
    await expectHouse4xx(await raw("POST", `/v1/admin/tenants/${tenant.id}/destinations`, { body: JSON.stringify(body) }), 400, "invalid_request");
  });

  it.each([
    ["no phone", {}],
    ["a SQL fragment", { phone: "' OR 1=1 --" }],
    ["a LIKE wildcard", { phone: "%" }],
    ["too short", { phone: "12" }],
    ["a 60 KB number", { phone: "1".repeat(60_000) }],
  ])("refuses an erase with %s", async (_what, body) => {
    const tenant = await createTenant();
    await expectHouse4xx(await raw("POST", `/v1/admin/tenants/${tenant.id}/erase`, { body: JSON.stringify(body) }), 400, "invalid_request");
  });

  it("is still healthy after all of it", async () => {
    const res = await call("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, degraded: [] });
  });
});
