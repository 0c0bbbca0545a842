import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { families } from "../src/callbacks/families";
import type { Env } from "../src/env";
import { eventIdFor, quarantineIdFor } from "../src/ingest/event-id";
import worker from "../src/index";
import type { CallbackMessage } from "../src/queue-messages";
import { call, createDestination, createTenant, fakeCrm, postCallback, storedPayload, uniqueId, waitUntil } from "./helpers";
import { everyDatabase } from "./every-database";

const crms: ReturnType<typeof fakeCrm>[] = [];
afterEach(() => crms.splice(0).forEach((c) => c.restore()));

const encode = (s: string) => new TextEncoder().encode(s);
const MAX_BODY_BYTES = Number(env.MAX_BODY_BYTES ?? 1_048_576);

function transferBody(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ callid: uniqueId("call"), transfer_status: "2", asr_result: ["Robot: สวัสดีค่ะ", "Human: 1"], ...extra });
}

function ingestUrl(tenant: string, kind: string, token?: string): string {
  return `/v1/callbacks/${tenant}/${kind}` + (token === undefined ? "" : `?token=${encodeURIComponent(token)}`);
}

/** Runs a request through the Worker's own fetch with a changed env, as a deployment with that env would. */
async function fetchWith(overrides: Partial<Env>, path: string, init: RequestInit): Promise<Response> {
  return worker.fetch(new Request(`https://relay.test${path}`, init), { ...env, ...overrides }, createExecutionContext());
}

/**
 * The house error shape, checked on every error answer: the status, the code,
 * a message, the request id equal to the x-request-id header, and nothing
 * that looks like a stack trace.
 */
async function expectError(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  const requestId = res.headers.get("x-request-id");
  expect(requestId).toBeTruthy();
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const text = await res.text();
  expectNoStack(text);
  const body = JSON.parse(text) as { ok: false; error: { code: string; message: string; request_id: string; issues?: { path: string; message: string }[] } };
  expect(body.ok).toBe(false);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe("string");
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(body.error.request_id).toBe(requestId);
  for (const key of Object.keys(body.error)) expect(["code", "message", "request_id", "issues"]).toContain(key);
  return body;
}

function expectNoStack(text: string) {
  expect(text).not.toMatch(/\n\s+at\s|\bat .*\(.*:\d+:\d+\)|\.(ts|js):\d+|"stack"/);
}

async function expectAccepted(res: Response): Promise<string> {
  const text = await res.text();
  expect(res.status, text).toBe(200);
  expect(res.headers.get("x-request-id")).toBeTruthy();
  const body = JSON.parse(text) as { ok: true; event_id: string };
  expect(body.ok).toBe(true);
  expect(body.event_id).toMatch(/^evt_[0-9a-f]{32}$/);
  return body.event_id;
}

async function eventRow(id: string) {
  const row = await everyDatabase.prepare("SELECT id, tenant_id, kind, type FROM events WHERE id = ?1")
    .bind(id)
    .first<{ id: string; tenant_id: string; kind: string; type: string }>();
  return row && { ...row, payload: await storedPayload(id) };
}

const inboxRow = (eventId: string) =>
  everyDatabase.prepare("SELECT body FROM inbox WHERE event_id = ?1").bind(eventId).first<{ body: string }>();

describe("400 invalid_json", () => {
  const bad: [string, BodyInit][] = [
    ["not JSON", "callid=abc&transfer_status=2"],
    ["truncated JSON", '{"callid":"abc","asr_result":["Robot: สวัส'],
    ["a JSON array", '[{"callid":"abc"}]'],
    ["a JSON string", '"callid"'],
    ["a JSON number", "42"],
    ["JSON null", "null"],
    ["an empty body", ""],
    ["invalid UTF-8 bytes", new Uint8Array([...encode('{"callid":"ab'), 0xff, 0xfe, 0xc3, ...encode('c"}')])],
  ];
  it.each(bad)("refuses %s", async (_, body) => {
    const tenant = await createTenant();
    const res = await call(ingestUrl(tenant.id, "inbound-transfer", tenant.token), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    await expectError(res, 400, "invalid_json");
  });
});

describe("401 unauthorized", () => {
  it("answers missing token, wrong token and unknown tenant identically", async () => {
    const tenant = await createTenant();
    const other = await createTenant();
    const body = transferBody();
    const json = { "content-type": "application/json" };
    const answers = [
      await call(ingestUrl(tenant.id, "inbound-transfer"), { method: "POST", headers: json, body }),
      await call(ingestUrl(tenant.id, "inbound-transfer", "rit_wrong"), { method: "POST", headers: json, body }),
      await call(ingestUrl(tenant.id, "inbound-transfer", other.token), { method: "POST", headers: json, body }),
      await call(ingestUrl(tenant.id, "inbound-transfer", ""), { method: "POST", headers: json, body }),
      await call(ingestUrl(tenant.id, "inbound-transfer"), { method: "POST", headers: { ...json, authorization: "Bearer rit_wrong" }, body }),
      await call(ingestUrl(tenant.id, "inbound-transfer"), { method: "POST", headers: { ...json, authorization: `Basic ${tenant.token}` }, body }),
      // A tenant that does not exist, given a real token of another tenant.
      await call(ingestUrl(uniqueId("ghost"), "inbound-transfer", tenant.token), { method: "POST", headers: json, body }),
    ];
    const bodies = [];
    for (const res of answers) {
      const b = await expectError(res, 401, "unauthorized");
      bodies.push({ ...b, error: { ...b.error, request_id: "(varies)" } });
    }
    for (const b of bodies) expect(b).toEqual(bodies[0]);
    expect(new Set(answers.map((r) => r.headers.get("x-request-id"))).size).toBe(answers.length);
  });

  it("accepts the token in ?token= and in Authorization: Bearer", async () => {
    const tenant = await createTenant();
    await expectAccepted(await postCallback(tenant.id, "inbound-transfer", transferBody(), tenant.token));
    await expectAccepted(
      await call(ingestUrl(tenant.id, "inbound-transfer"), {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${tenant.token}` },
        body: transferBody(),
      }),
    );
  });
});

describe("404 unknown_kind", () => {
  it.each(["nope", "inbound_transfer", "ANY", "generic"])("refuses kind %s", async (kind) => {
    const tenant = await createTenant();
    await expectError(await postCallback(tenant.id, kind, transferBody(), tenant.token), 404, "unknown_kind");
  });
});

describe("413 payload_too_large", () => {
  it("refuses a body whose content-length is over MAX_BODY_BYTES", async () => {
    const tenant = await createTenant();
    const body = JSON.stringify({ callid: uniqueId("call"), transfer_status: "2", pad: "a".repeat(MAX_BODY_BYTES) });
    await expectError(await postCallback(tenant.id, "inbound-transfer", body, tenant.token), 413, "payload_too_large");
  });

  it("refuses a declared content-length over the limit without reading the body", async () => {
    const tenant = await createTenant();
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          pulled += 65_536;
          controller.enqueue(new Uint8Array(65_536).fill(0x20));
        },
      },
      { highWaterMark: 0 },
    );
    const res = await fetchWith({}, ingestUrl(tenant.id, "inbound-transfer", tenant.token), {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(MAX_BODY_BYTES + 1) },
      body: stream,
    });
    await expectError(res, 413, "payload_too_large");
    expect(pulled).toBe(0);
  });

  it("cuts off a chunked body (no content-length) as soon as it passes the limit", async () => {
    const tenant = await createTenant();
    const chunk = 65_536;
    const total = MAX_BODY_BYTES * 4;
    let pulled = 0;
    const stream = () =>
      new ReadableStream<Uint8Array>(
        {
          pull(controller) {
            if (pulled >= total) return controller.close();
            const bytes = pulled === 0 ? encode('{"callid":"x","pad":"' + "a".repeat(chunk - 21)) : new Uint8Array(chunk).fill(0x61);
            pulled += bytes.byteLength;
            controller.enqueue(bytes);
          },
        },
        { highWaterMark: 0 },
      );

    const direct = new Request(`https://relay.test${ingestUrl(tenant.id, "inbound-transfer", tenant.token)}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: stream(),
    });
    expect(direct.headers.get("content-length")).toBeNull();
    await expectError(await worker.fetch(direct, env, createExecutionContext()), 413, "payload_too_large");
    expect(pulled).toBeLessThanOrEqual(MAX_BODY_BYTES + 2 * chunk);

    // The same through the Worker's HTTP entry point, where the body arrives chunked.
    pulled = 0;
    const res = await call(ingestUrl(tenant.id, "inbound-transfer", tenant.token), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: stream(),
    });
    await expectError(res, 413, "payload_too_large");
    expect(pulled).toBeLessThan(total);
  });
});

describe("415 unsupported_media_type", () => {
  it.each(["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])(
    "refuses %s",
    async (contentType) => {
      const tenant = await createTenant();
      const res = await postCallback(tenant.id, "inbound-transfer", transferBody(), tenant.token, { "content-type": contentType });
      await expectError(res, 415, "unsupported_media_type");
    },
  );

  it("accepts a missing content type, and JSON with parameters", async () => {
    const tenant = await createTenant();
    // A byte body, unlike a string, gets no implicit text/plain content type.
    const bare = new Request(`https://relay.test${ingestUrl(tenant.id, "inbound-transfer", tenant.token)}`, {
      method: "POST",
      body: encode(transferBody()),
    });
    expect(bare.headers.get("content-type")).toBeNull();
    await expectAccepted(await call(ingestUrl(tenant.id, "inbound-transfer", tenant.token), { method: "POST", body: encode(transferBody()) }));
    await expectAccepted(await worker.fetch(bare, env, createExecutionContext()));
    await expectAccepted(
      await postCallback(tenant.id, "inbound-transfer", transferBody(), tenant.token, { "content-type": "application/json; charset=utf-8" }),
    );
  });
});

describe("422 invalid_payload", () => {
  const cases: [string, string, string, string][] = [
    ["callid missing", "inbound-transfer", '{ "transfer_status" : "2",\n  "asr_result": ["Robot: สวัสดีค่ะ \\u0e2a"] }', "callid"],
    ["callid empty", "inbound-transfer", '{"callid":"","transfer_status":"2","note":"ขอบคุณ 🙏"}', "callid"],
    ["callid blank", "inbound-call-end", '{"callid":"   ","call_hangup_type":"ByUser"}', "callid"],
    ["PDS AgentStatus body empty", "pds", '{"type":"AgentStatus","body":{}}', "body.callid"],
    ["PDS unknown type, body empty", "pds", '{"type":"Other","body":{}}', "body"],
    ["PDS body not an object", "pds", '{"type":"TaskStatus","body":"Finished"}', "body"],
    ["PDS callid missing", "pds", '{"type":"ContactStatus","body":{"state":"ANSWERED"}}', "body.callid"],
    ["QA Sign wrong", "qa-report", '{"TaskID":"t-1","Sign":"00000000000000000000000000000000","QADetail":[]}', "Sign"],
    ["workflow_id missing", "workflow", '{"workflow_name":"w","status":"done"}', "workflow_id"],
  ];
  it.each(cases)("%s: names the field and keeps the raw body in quarantine", async (_, kind, template, path) => {
    const tenant = await createTenant();
    // Unique per run, so that the quarantine row is this test's own.
    const raw = template.replace(/^\{/, `{"run":"${uniqueId("r")}", `);
    const res = await postCallback(tenant.id, kind, raw, tenant.token);
    const body = await expectError(res, 422, "invalid_payload");
    expect(body.error.issues?.length).toBeGreaterThan(0);
    expect(body.error.issues!.map((i) => i.path)).toContain(path);
    for (const issue of body.error.issues!) expect(typeof issue.message).toBe("string");

    const row = await everyDatabase.prepare("SELECT tenant_id, kind, body, issues FROM quarantine WHERE id = ?1")
      .bind(await quarantineIdFor(tenant.id, raw))
      .first<{ tenant_id: string; kind: string; body: string; issues: string }>();
    expect(row).not.toBeNull();
    expect(row!.tenant_id).toBe(tenant.id);
    expect(encode(row!.body)).toEqual(encode(raw));
    expect((JSON.parse(row!.issues) as { path: string }[]).map((i) => i.path)).toContain(path);
    expect(await eventRow(await eventIdFor(tenant.id, raw))).toBeNull();
  });
});

describe("503 unavailable", () => {
  it("answers 503 when the queue refuses the callback, and stores nothing", async () => {
    const tenant = await createTenant();
    const body = transferBody();
    const down = () => Promise.reject(new Error("queue is down"));
    const res = await fetchWith(
      { CALLBACKS_QUEUE: { send: down, sendBatch: down } as unknown as Queue<CallbackMessage> },
      ingestUrl(tenant.id, "inbound-transfer", tenant.token),
      { method: "POST", headers: { "content-type": "application/json" }, body },
    );
    const error = await expectError(res, 503, "unavailable");
    expect(error.error.message).not.toContain("queue is down");

    const eventId = await eventIdFor(tenant.id, body);
    expect(await eventRow(eventId)).toBeNull();
    expect(await inboxRow(eventId)).toBeNull();

    // AiRudder's retry, once the queue is back, is accepted under the id the callback always had.
    expect(await expectAccepted(await postCallback(tenant.id, "inbound-transfer", body, tenant.token))).toBe(eventId);
  });

  it("answers 503 (AiRudder retries) with no stack trace when storage itself fails", async () => {
    const broken = { prepare: () => { throw new Error("D1_ERROR: storage is down at Object.query (db.ts:1:1)"); } } as unknown as D1Database;
    const res = await fetchWith({ DB: broken }, ingestUrl(uniqueId("t"), "inbound-transfer", "rit_x"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: transferBody(),
    });
    const body = await expectError(res, 503, "unavailable");
    expect(body.error.message).not.toContain("D1_ERROR");
  });
});

/** The real callbacks queue, watched: what was sent, with `onSend` run just before each send. */
function watchedCallbacksQueue(onSend: (message: CallbackMessage) => Promise<void> = async () => undefined) {
  const sent: CallbackMessage[] = [];
  const queue = {
    async send(message: CallbackMessage, options?: QueueSendOptions) {
      sent.push(message);
      await onSend(message);
      return env.CALLBACKS_QUEUE.send(message, options);
    },
    sendBatch: (messages: Iterable<MessageSendRequest<CallbackMessage>>, options?: QueueSendBatchOptions) =>
      env.CALLBACKS_QUEUE.sendBatch(messages, options),
  } as unknown as Queue<CallbackMessage>;
  return { sent, queue };
}

describe("200 accepted", () => {
  it("gives the same body the same event_id through inbound-transfer and any, and stores it once", async () => {
    const tenant = await createTenant();
    const body = transferBody();
    const viaKind = await expectAccepted(await postCallback(tenant.id, "inbound-transfer", body, tenant.token));
    const viaAny = await expectAccepted(await postCallback(tenant.id, "any", body, tenant.token));
    expect(viaAny).toBe(viaKind);
    expect(viaKind).toBe(await eventIdFor(tenant.id, body));

    const other = await createTenant();
    expect(await expectAccepted(await postCallback(other.id, "any", body, other.token))).not.toBe(viaKind);

    const row = await waitUntil(() => eventRow(viaKind).then((r) => r ?? undefined));
    expect(row).toMatchObject({ tenant_id: tenant.id, kind: "inbound-transfer", type: "airudder.inbound.transfer", payload: body });
    const count = await everyDatabase.prepare("SELECT COUNT(*) AS n FROM events WHERE id = ?1").bind(viaKind).first<{ n: number }>();
    expect(count?.n).toBe(1);
  });

  it("sends the searchable columns it read with the message, and the consumer stores those without parsing the body again", async () => {
    const tenant = await createTenant();
    const callid = uniqueId("cols");
    const body = transferBody({ callid, caller_number: "0812345678", call_start_time: "2026-12-01 07:00:00" });
    const { sent, queue: watched } = watchedCallbacksQueue();
    const parse = vi.spyOn(JSON, "parse");
    const res = await fetchWith({ CALLBACKS_QUEUE: watched }, ingestUrl(tenant.id, "inbound-transfer", tenant.token), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    const eventId = await expectAccepted(res);
    const columns = families["inbound-transfer"].columns(JSON.parse(body) as Record<string, unknown>);
    expect(columns).toMatchObject({ callid, phone_masked: "***5678" });
    expect(sent[0]!.columns).toEqual(columns);
    const stored = await waitUntil(async () =>
      (await everyDatabase.prepare("SELECT callid, task_id, state, agent, phone_masked, call_time FROM events WHERE id = ?1").bind(eventId).first()) ?? undefined,
    );
    expect(stored).toEqual(columns);
    // Once by ingest, once for the columns above: the consumer of a tenant without payload filters parses nothing.
    expect(parse.mock.calls.filter(([text]) => text === body)).toHaveLength(2);
    parse.mockRestore();
  });

  it("measures a body as its queue message encodes it: 90 KB whose escapes double when encoded go through the inbox, not a 128 KB-overflowing message", async () => {
    const tenant = await createTenant();
    // Each `\"` (2 bytes) is 4 bytes once the body is a JSON string inside the message.
    const body = JSON.stringify({ callid: uniqueId("quotes"), transfer_status: "2", note: '"'.repeat(45_000) });
    expect(encode(body).byteLength).toBeLessThan(96 * 1024);
    expect(encode(JSON.stringify({ body })).byteLength).toBeGreaterThan(128 * 1024);

    const { sent, queue: watched } = watchedCallbacksQueue();
    const res = await fetchWith({ CALLBACKS_QUEUE: watched }, ingestUrl(tenant.id, "inbound-transfer", tenant.token), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    const eventId = await expectAccepted(res);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.body).toBeUndefined();
    const stored = await waitUntil(() => eventRow(eventId).then((r) => r ?? undefined));
    expect(stored.payload).toBe(body);
  });

  it("takes a body over 96 KiB through the D1 inbox and delivers it exactly", async () => {
    const crm = fakeCrm();
    crms.push(crm);
    const tenant = await createTenant();
    await createDestination(tenant.id, { url: crm.url() });
    const asr = Array.from({ length: 300 }, (_, i) =>
      (i % 2 ? "Human: " : "Robot: ") + `${i} ` + "สวัสดีค่ะ ยินดีให้บริการ กรุณาเลือกหมายเลขที่เกี่ยวข้อง ".repeat(4) + "🙏",
    );
    const body = JSON.stringify({ callid: uniqueId("big"), transfer_status: "2", caller_number: "0800059391", asr_result: asr });
    expect(encode(body).byteLength).toBeGreaterThan(128 * 1024);

    // The real queue, watched: what was sent, and whether the inbox already held the body then.
    let inboxAtSend: { body: string } | null = null;
    const { sent, queue: watched } = watchedCallbacksQueue(async (message) => {
      inboxAtSend = await inboxRow(message.event_id);
    });
    const res = await fetchWith({ CALLBACKS_QUEUE: watched }, ingestUrl(tenant.id, "inbound-transfer", tenant.token), {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "Airudder" },
      body,
    });
    const eventId = await expectAccepted(res);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.event_id).toBe(eventId);
    expect(sent[0]!.body).toBeUndefined();
    expect(encode(JSON.stringify(sent[0])).byteLength).toBeLessThan(1024);
    expect(inboxAtSend).not.toBeNull();
    expect(inboxAtSend!.body).toBe(body);

    const delivered = await waitUntil(async () => crm.requests.length === 1 && crm.requests[0]);
    const envelope = JSON.parse(delivered.body) as { id: string; data: unknown };
    expect(envelope.id).toBe(eventId);
    expect(envelope.data).toEqual(JSON.parse(body));
    expect((await eventRow(eventId))?.payload).toBe(body);
    await waitUntil(async () => (await inboxRow(eventId)) === null);
  });

  const md5 = async (text: string) =>
    [...new Uint8Array(await crypto.subtle.digest("MD5", encode(text)))].map((b) => b.toString(16).padStart(2, "0")).join("");

  const lenient: [string, string, () => Promise<Record<string, unknown>>, string][] = [
    [
      "inbound transfer with '' and null everywhere",
      "inbound-transfer",
      async () => ({
        callid: uniqueId("call"), caller_number: "", callee_number: null, robot_id: 7325, robot_name: "", call_start_time: "",
        call_end_time_robot: null, transfer_status: "", transfer_failure_reason: null, transfer_time: "", transfer_ring_time: "",
        transfer_success_time: null, transfer_strategy: "", transfer_reason: "", call_end_time: "", transfer_call_id: null,
        intention: "", slots: "", event_label: null, duration: "", duration_robot: "188", talkround: "7", valid_talkround: "",
        call_hangup_type: "", asr_result: "", step_intention: null, unknown_new_field: { kept: true },
      }),
      "airudder.inbound.transfer",
    ],
    [
      "inbound call end with a numeric callid and null list items",
      "inbound-call-end",
      async () => ({ callid: Date.now(), duration: "83", talkround: "3", asr_result: [null, "Robot: สวัสดี", 5], step_intention: [null, {}] }),
      "airudder.inbound.call_end",
    ],
    [
      "PDS AgentStatus with strings for numbers and '' for objects",
      "pds",
      async () => ({
        type: "AgentStatus",
        body: {
          callid: uniqueId("call"), State: "", agentName: null, phoneNumber: "", timestamp: "", taskId: 12, nthCall: "2",
          curDayCallCount: "", curDayCallDuration: null, holdDuration: { auto: "3", manual: "" }, curDayTalkResults: "",
          customizeResults: "", customerInfo: null, talkremarks: "หมายเหตุ", hangupReason: "12",
        },
      }),
      "airudder.pds.agent_status",
    ],
    [
      "PDS ContactStatus with a string hangupReason",
      "pds",
      async () => ({ type: "ContactStatus", body: { callid: uniqueId("call"), state: null, hangupReason: "3", nthCall: 1, timestamp: "1741919612345" } }),
      "airudder.pds.contact_status",
    ],
    [
      "PDS TaskStatus with a numeric taskId",
      "pds",
      async () => ({ type: "TaskStatus", body: { taskId: Date.now(), state: "", taskName: null } }),
      "airudder.pds.task_status",
    ],
    [
      "QA report with '' everywhere",
      "qa-report",
      async () => {
        const id = uniqueId("qa");
        return {
          TaskID: id, Sign: (await md5(id + "airudder")).toUpperCase(),
          QADetail: [{ Recordingid: "", Size: "12", Length: "", Words: null, AsrResults: "", Scores: null,
            CheckPoint: [{ CheckPointType: "VoiceMail", CheckPointResultsDetail: "" }] }],
        };
      },
      "airudder.qa.report",
    ],
    [
      "workflow with '' actions",
      "workflow",
      async () => ({ workflow_id: uniqueId("wf"), workflow_name: "", status: null, actions: "" }),
      "airudder.workflow.status",
    ],
    [
      "workflow with null action fields",
      "workflow",
      async () => ({ workflow_id: 42, actions: [{ nodetask_id: "", nodetask_name: null, node_type: 3, task_id: null }, null] }),
      "airudder.workflow.status",
    ],
    ["an unknown shape through any", "any", async () => ({ sms_id: uniqueId("sms"), status: "", cost: "0.5" }), "airudder.generic"],
  ];
  it.each(lenient)("accepts %s", async (_, kind, build, type) => {
    const tenant = await createTenant();
    const body = JSON.stringify(await build());
    const eventId = await expectAccepted(await postCallback(tenant.id, kind, body, tenant.token));
    const row = await waitUntil(() => eventRow(eventId).then((r) => r ?? undefined));
    expect(row.type).toBe(type);
    expect(row.payload).toBe(body);
  });
});

describe("request ids", () => {
  it("puts an x-request-id on every answer, success or not", async () => {
    const tenant = await createTenant();
    const answers = [
      await postCallback(tenant.id, "inbound-transfer", transferBody(), tenant.token),
      await postCallback(tenant.id, "inbound-transfer", transferBody(), "rit_wrong"),
      await call("/healthz"),
      await call("/no/such/route"),
      await call(ingestUrl(tenant.id, "inbound-transfer", tenant.token), { method: "GET" }),
    ];
    for (const res of answers) {
      expect(res.headers.get("x-request-id")).toMatch(/\S+/);
      expectNoStack(await res.text());
    }
    expect(new Set(answers.map((r) => r.headers.get("x-request-id"))).size).toBe(answers.length);
  });

  it("keeps a caller's own plain X-Request-Id, in the header and the error body, and replaces anything else", async () => {
    const tenant = await createTenant();
    const own = await postCallback(tenant.id, "inbound-transfer", transferBody(), "rit_wrong", { "x-request-id": "crm-trace_42=" });
    expect(own.headers.get("x-request-id")).toBe("crm-trace_42=");
    expect(((await own.json()) as { error: { request_id: string } }).error.request_id).toBe("crm-trace_42=");
    for (const odd of ["has space", "semi;colon", "x".repeat(65)]) {
      const res = await postCallback(tenant.id, "inbound-transfer", transferBody(), tenant.token, { "x-request-id": odd });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{24}$/);
    }
  });
});
