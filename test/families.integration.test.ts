/// <reference types="vite/client" />
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, createDestination, createTenant, fakeCrm, postCallback, waitUntil, type CapturedRequest } from "./helpers";
import { everyDatabase } from "./every-database";

/*
 * Every AiRudder callback family through the real ingest route, the real
 * queue consumer and D1, as CALLBACKS.md describes them. Only the CRM is fake.
 */

const raw = import.meta.glob<string>("./fixtures/families/*.json", { query: "?raw", import: "default", eager: true });
const fixtures = Object.fromEntries(
  Object.entries(raw).map(([path, text]) => [path.replace(/^.*\/|\.json$/g, ""), text]),
) as Record<string, string>;

interface Columns {
  callid: string | null;
  task_id: string | null;
  state: string | null;
  agent: string | null;
  phone_masked: string | null;
  call_time: string | null;
}

const none: Columns = { callid: null, task_id: null, state: null, agent: null, phone_masked: null, call_time: null };

interface Expected {
  kind: string;
  /** The `kind` column: the URL kind, or the family `any` detected. */
  stored: string;
  type: string;
  columns: Columns;
}

const inboundTransfer = (columns: Partial<Columns>): Expected => ({
  kind: "inbound-transfer",
  stored: "inbound-transfer",
  type: "airudder.inbound.transfer",
  columns: { ...none, ...columns },
});
const inboundCallEnd = (columns: Partial<Columns>): Expected => ({
  kind: "inbound-call-end",
  stored: "inbound-call-end",
  type: "airudder.inbound.call_end",
  columns: { ...none, ...columns },
});
const pds = (name: string, columns: Partial<Columns>): Expected => ({
  kind: "pds",
  stored: "pds",
  type: `airudder.pds.${name}`,
  columns: { ...none, ...columns },
});
const qa = (taskId: string): Expected => ({
  kind: "qa-report",
  stored: "qa-report",
  type: "airudder.qa.report",
  columns: { ...none, task_id: taskId },
});
const workflow = (columns: Partial<Columns>): Expected => ({
  kind: "workflow",
  stored: "workflow",
  type: "airudder.workflow.status",
  columns: { ...none, ...columns },
});

/** What each fixture must become, worked out by hand from CALLBACKS.md, not from the code. */
const expected: Record<string, Expected> = {
  "inbound-transfer.full": inboundTransfer({
    callid: "5b1f0c2e9d4a4e7fb3a8c61d2e90f7a4",
    state: "2",
    phone_masked: "***7890",
    call_time: "2025-03-14T02:31:07Z",
  }),
  "inbound-transfer.minimal": inboundTransfer({ callid: "0d6c3a41b7e24f51a9e3c2b8f1d07e65" }),
  "inbound-transfer.quirky": inboundTransfer({
    callid: "e2f7a9c03b5d4e18a6f1c9d2b7e40a13",
    state: "2",
    phone_masked: "***5678",
    call_time: "2025-03-14T09:15:00Z",
  }),
  "inbound-call-end.full": inboundCallEnd({
    callid: "9a3e6f1c2b8d47a0b5e4c7d1f2a63b98",
    state: "ByUser",
    phone_masked: "***5678",
    call_time: "2025-03-14T03:02:14Z",
  }),
  "inbound-call-end.minimal": inboundCallEnd({ callid: "c41d8e2a6f9b40e3a7d15b2c8e06f3a1" }),
  "inbound-call-end.quirky": inboundCallEnd({
    callid: "7f04b2d9e1c6483ab9f52e0d7c3a1b66",
    state: "ByRobot",
    phone_masked: "***5432",
    call_time: "2025-03-14T11:20:05Z",
  }),
  "pds-agent-status.full": pds("agent_status", {
    callid: "pds-3f9a1c7e-2b64-4d0e-9a85-61c2f7d4e013",
    task_id: "T-20250314-0042",
    state: "TALKRESULT",
    agent: "somchai.k",
    phone_masked: "***4567",
    call_time: "2025-03-14T02:33:32.345Z",
  }),
  "pds-agent-status.minimal": pds("agent_status", { callid: "pds-min-8e21c4b0-agent" }),
  "pds-agent-status.quirky": pds("agent_status", {
    callid: "pds-quirky-51c0e7a2-agent",
    task_id: "20250314042",
    state: "HANGUP",
    agent: "ศรีสุดา 🌸",
    phone_masked: "***4321",
    call_time: "2025-03-14T02:34:15.021Z",
  }),
  "pds-contact-status.full": pds("contact_status", {
    callid: "pds-7d02b9e4-81c3-4f6a-b5d0-2e9c4a7f1036",
    task_id: "T-20250314-0042",
    state: "Finished",
    agent: "dewi.s",
    phone_masked: "***5432",
    call_time: "2025-03-14T02:40:03.118Z",
  }),
  "pds-contact-status.minimal": pds("contact_status", { callid: "pds-min-4a7f90d2-contact" }),
  "pds-contact-status.quirky": pds("contact_status", { callid: "pds-quirky-93be1f07-contact", state: "Busy" }),
  "pds-task-status.full": pds("task_status", {
    task_id: "T-20250314-0042",
    state: "Finished",
    call_time: "2025-03-14T11:00:00.000Z",
  }),
  "pds-task-status.minimal": pds("task_status", { task_id: "T-min-0007" }),
  "pds-task-status.quirky": pds("task_status", { task_id: "88412" }),
  "pds-unknown.full": pds("unknown", { agent: "somchai.k", call_time: "2025-03-13T23:53:20.000Z" }),
  "pds-unknown.minimal": pds("unknown", {}),
  "pds-unknown.quirky": pds("unknown", {
    callid: "pds-quirky-case-6b1e0f94",
    state: "ANSWERED",
    agent: "ariya.t",
    phone_masked: "***0199",
    call_time: "2025-03-14T02:35:00.000Z",
  }),
  "qa-report.full": qa("QA-20250314-7f3a9c"),
  "qa-report.minimal": qa("QA-min-0001"),
  "qa-report.quirky": qa("20250315088"),
  "workflow.full": workflow({ task_id: "wf_6c2d9e0a41b3", state: "running" }),
  "workflow.minimal": workflow({ task_id: "wf_min_0001" }),
  "workflow.quirky": workflow({ task_id: "wf_quirky_ไทย_01" }),
};

const names = Object.keys(expected);
const fixture = (name: string) => {
  const text = fixtures[name];
  if (text === undefined) throw new Error(`no fixture ${name}`);
  return text;
};
const parsed = (name: string) => JSON.parse(fixture(name)) as Record<string, any>;

async function post(tenant: { id: string; token: string }, kind: string, body: string) {
  const res = await postCallback(tenant.id, kind, body, tenant.token);
  return { status: res.status, body: (await res.json()) as any };
}

async function storedEvent(id: string): Promise<any> {
  return waitUntil(async () => {
    const r = await admin("GET", `/v1/admin/events/${id}`);
    return r.status === 200 && r.body;
  });
}

async function quarantineRows(tenant: string, body: string) {
  return (
    await everyDatabase.prepare("SELECT id, kind, body, issues FROM quarantine WHERE tenant_id = ?1 AND body = ?2")
      .bind(tenant, body)
      .all<{ id: string; kind: string; body: string; issues: string }>()
  ).results;
}

function envelopeOf(req: CapturedRequest) {
  return JSON.parse(req.body) as { id: string; type: string; tenant: string; received_at: string; seq?: number; data: unknown };
}

const crms: ReturnType<typeof fakeCrm>[] = [];
afterAll(() => crms.splice(0).forEach((c) => c.restore()));

function crm() {
  const c = fakeCrm();
  crms.push(c);
  return c;
}

it("has an expectation for every fixture file, and a fixture for every expectation", () => {
  expect(Object.keys(fixtures).sort()).toEqual([...names].sort());
});

describe("every fixture under its own kind", () => {
  let tenant: { id: string; token: string };
  const sink = crm();
  const receipts = new Map<string, { status: number; body: any }>();

  beforeAll(async () => {
    tenant = await createTenant();
    await createDestination(tenant.id, { url: sink.url() });
    for (const name of names) receipts.set(name, await post(tenant, expected[name]!.kind, fixture(name)));
  });

  it.each(names)("%s: 200, stored with its type and searchable columns, delivered exactly as posted", async (name) => {
    const want = expected[name]!;
    const receipt = receipts.get(name)!;
    expect(receipt.status, JSON.stringify(receipt.body)).toBe(200);
    expect(receipt.body).toEqual({ ok: true, event_id: expect.stringMatching(/^evt_[0-9a-f]{32}$/) });

    const event = await storedEvent(receipt.body.event_id);
    expect(event).toMatchObject({ tenant: tenant.id, kind: want.stored, type: want.type, payload_state: "kept", ...want.columns });
    expect(event.payload).toEqual(JSON.parse(fixture(name)));

    const delivered = await waitUntil(async () => sink.requests.find((r) => r.headers["webhook-id"] === receipt.body.event_id));
    const envelope = envelopeOf(delivered);
    expect(envelope).toMatchObject({ id: receipt.body.event_id, type: want.type, tenant: tenant.id });
    // The payload goes out as the very text AiRudder sent: unknown fields, escapes, key order and all.
    expect(delivered.body.endsWith(`,"data":${fixture(name)}}`)).toBe(true);
    expect(envelope.data).toEqual(JSON.parse(fixture(name)));
  });

  it("GET /v1/admin/events filters on callid, task_id, state, agent and phone_last4", async () => {
    const ids = new Map(names.map((n) => [n, receipts.get(n)!.body.event_id as string]));
    await Promise.all([...ids.values()].map(storedEvent));

    const cases: [string, string, (c: Columns) => boolean][] = [
      ["callid", "pds-3f9a1c7e-2b64-4d0e-9a85-61c2f7d4e013", (c) => c.callid === "pds-3f9a1c7e-2b64-4d0e-9a85-61c2f7d4e013"],
      ["callid", "e2f7a9c03b5d4e18a6f1c9d2b7e40a13", (c) => c.callid === "e2f7a9c03b5d4e18a6f1c9d2b7e40a13"],
      ["task_id", "T-20250314-0042", (c) => c.task_id === "T-20250314-0042"],
      ["task_id", "wf_quirky_ไทย_01", (c) => c.task_id === "wf_quirky_ไทย_01"],
      ["state", "Finished", (c) => c.state === "Finished"],
      ["state", "2", (c) => c.state === "2"],
      ["agent", "somchai.k", (c) => c.agent === "somchai.k"],
      ["agent", "ศรีสุดา 🌸", (c) => c.agent === "ศรีสุดา 🌸"],
      ["phone_last4", "5432", (c) => c.phone_masked === "***5432"],
      ["phone_last4", "5678", (c) => c.phone_masked === "***5678"],
    ];
    for (const [param, value, matches] of cases) {
      const want = names.filter((n) => matches(expected[n]!.columns)).map((n) => ids.get(n)!);
      expect(want.length, `${param}=${value} matches some fixture`).toBeGreaterThan(0);
      const r = await admin("GET", `/v1/admin/events?tenant=${tenant.id}&${param}=${encodeURIComponent(value)}`);
      expect(r.status).toBe(200);
      expect((r.body.data as { id: string }[]).map((e) => e.id).sort(), `${param}=${value}`).toEqual(want.sort());
    }

    const both = await admin("GET", `/v1/admin/events?tenant=${tenant.id}&task_id=T-20250314-0042&state=Finished&agent=dewi.s`);
    expect(both.body.data.map((e: { id: string }) => e.id)).toEqual([ids.get("pds-contact-status.full")]);
    const bad = await admin("GET", `/v1/admin/events?tenant=${tenant.id}&phone_last4=12`);
    expect(bad.status).toBe(400);
  });
});

describe("the `any` kind", () => {
  // An identity-only inbound body has none of the inbound markers: `any` cannot tell it from an unknown product.
  const detectable = names.filter((n) => !n.startsWith("inbound-") || !n.endsWith(".minimal"));

  it("detects every family with the same event type, and gives the same event_id as the specific kind", async () => {
    const tenant = await createTenant();
    const viaAny = new Map<string, string>();
    for (const name of detectable) {
      const r = await post(tenant, "any", fixture(name));
      expect(r.status, `${name}: ${JSON.stringify(r.body)}`).toBe(200);
      viaAny.set(name, r.body.event_id);
    }
    // Stored from the `any` post alone: the specific kind has not been posted yet.
    for (const name of detectable) {
      const event = await storedEvent(viaAny.get(name)!);
      expect({ name, type: event.type, kind: event.kind, ...pick(event) }).toEqual({ name, type: expected[name]!.type, kind: expected[name]!.stored, ...expected[name]!.columns });
    }
    for (const name of detectable) {
      const r = await post(tenant, expected[name]!.kind, fixture(name));
      expect(r.body, name).toEqual({ ok: true, event_id: viaAny.get(name) });
    }
  });

  it("reads anything else as airudder.generic, and an identity-only inbound body too", async () => {
    const tenant = await createTenant();
    const sms = JSON.stringify({ sms_id: "sms_8812", status: "DELIVERED", mobile: "+66891234567", text: "รหัส OTP 4821 🔐" });
    const bare = fixture("inbound-call-end.minimal");
    const withCallid = JSON.stringify({ callid: "chatbot-7781", session_end: "2025-03-14 05:00:00", messages: 12 });
    for (const [body, callid] of [[sms, null], [bare, "c41d8e2a6f9b40e3a7d15b2c8e06f3a1"], [withCallid, "chatbot-7781"]] as const) {
      const r = await post(tenant, "any", body);
      expect(r.status).toBe(200);
      const event = await storedEvent(r.body.event_id);
      expect(event).toMatchObject({ type: "airudder.generic", kind: "generic", callid });
      expect(event.payload).toEqual(JSON.parse(body));
    }
  });

  it("refuses a detected family that lacks its identity, like the specific kind does", async () => {
    const tenant = await createTenant();
    const agent = parsed("pds-agent-status.full");
    delete agent.body.callid;
    const qaReport = { ...parsed("qa-report.full"), Sign: "0".repeat(32) };
    for (const [body, path] of [[agent, "body.callid"], [qaReport, "Sign"], [{ ...parsed("workflow.full"), workflow_id: "" }, "workflow_id"]] as const) {
      const text = JSON.stringify(body);
      const r = await post(tenant, "any", text);
      expect(r.status).toBe(422);
      expect(r.body.error.issues.map((i: { path: string }) => i.path)).toContain(path);
      expect(await quarantineRows(tenant.id, text)).toEqual([expect.objectContaining({ kind: "any" })]);
    }
  });
});

function pick(event: Record<string, unknown>): Columns {
  const { callid, task_id, state, agent, phone_masked, call_time } = event as unknown as Columns;
  return { callid, task_id, state, agent, phone_masked, call_time };
}

describe("size and text", () => {
  it("accepts and delivers a payload of several hundred KB (hundreds of transcript lines)", async () => {
    const tenant = await createTenant();
    const sink = crm();
    await createDestination(tenant.id, { url: sink.url() });
    const body = parsed("inbound-transfer.full");
    body.callid = "big-" + crypto.randomUUID();
    body.asr_result = Array.from({ length: 900 }, (_, i) =>
      i % 2 === 0
        ? `Robot: ${i} กรุณาถือสายรอสักครู่ ทางเรากำลังโอนสายไปยังเจ้าหน้าที่ฝ่ายบริการลูกค้าค่ะ Mohon tunggu sebentar 请稍等 🙏 ${"·".repeat(150)}`
        : `Human: ${i} ครับ ผมรออยู่ Saya masih menunggu 我还在等 ⏳ ${"-".repeat(200)}`,
    );
    const text = JSON.stringify(body);
    const bytes = new TextEncoder().encode(text).byteLength;
    expect(bytes).toBeGreaterThan(300 * 1024);
    expect(bytes).toBeLessThan(1024 * 1024);

    const r = await post(tenant, "inbound-transfer", text);
    expect(r.status).toBe(200);
    const event = await storedEvent(r.body.event_id);
    expect(event).toMatchObject({ type: "airudder.inbound.transfer", callid: body.callid, state: "2" });
    expect(event.payload.asr_result).toHaveLength(900);
    const delivered = await waitUntil(async () => sink.requests.find((q) => q.headers["webhook-id"] === r.body.event_id));
    expect(delivered.body.endsWith(`,"data":${text}}`)).toBe(true);
  });
});

describe("identity fields", () => {
  type Case = { name: string; kind: string; path: string; mutate: (b: Record<string, any>, v: unknown) => void };
  const top = (field: string) => (b: Record<string, any>, v: unknown) => (v === undefined ? delete b[field] : (b[field] = v));
  const inBody = (field: string) => (b: Record<string, any>, v: unknown) => (v === undefined ? delete b.body[field] : (b.body[field] = v));
  const cases: Case[] = [
    { name: "inbound-transfer.full", kind: "inbound-transfer", path: "callid", mutate: top("callid") },
    { name: "inbound-call-end.full", kind: "inbound-call-end", path: "callid", mutate: top("callid") },
    { name: "pds-agent-status.full", kind: "pds", path: "body.callid", mutate: inBody("callid") },
    { name: "pds-contact-status.full", kind: "pds", path: "body.callid", mutate: inBody("callid") },
    { name: "pds-task-status.full", kind: "pds", path: "body.taskId", mutate: inBody("taskId") },
    { name: "qa-report.full", kind: "qa-report", path: "TaskID", mutate: top("TaskID") },
    { name: "workflow.full", kind: "workflow", path: "workflow_id", mutate: top("workflow_id") },
  ];
  const spellings: [string, unknown, string][] = [
    ["missing", undefined, "required"],
    ['""', "", "must not be empty"],
    ["blank", "   ", "must not be empty"],
    ["null", null, "must be a non-empty string"],
  ];

  it.each(cases.flatMap((c) => spellings.map(([label, value, message]) => ({ ...c, label, value, message }))))(
    "$kind: $path $label → 422 naming $path, kept in quarantine",
    async ({ name, kind, path, mutate, value, message }) => {
      const tenant = await createTenant();
      const body = parsed(name);
      mutate(body, value);
      const text = JSON.stringify(body);
      const r = await post(tenant, kind, text);
      expect(r.status).toBe(422);
      expect(r.body.ok).toBe(false);
      expect(r.body.error).toMatchObject({ code: "invalid_payload", request_id: expect.any(String) });
      expect(r.body.error.issues).toContainEqual({ path, message });
      const rows = await quarantineRows(tenant.id, text);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ kind });
      expect(JSON.parse(rows[0]!.issues)).toContainEqual({ path, message });
      const events = await everyDatabase.prepare("SELECT COUNT(*) AS n FROM events WHERE tenant_id = ?1").bind(tenant.id).first<{ n: number }>();
      expect(events?.n).toBe(0);
    },
  );
});

describe("PDS envelope", () => {
  const agentBody = () => parsed("pds-agent-status.full").body;
  const refused: [string, unknown][] = [
    ["AgentStatus with no body", { type: "AgentStatus" }],
    ["AgentStatus with a string body", { type: "AgentStatus", body: JSON.stringify(agentBody()) }],
    ["AgentStatus with an array body", { type: "AgentStatus", body: [agentBody()] }],
    ["AgentStatus with a null body", { type: "AgentStatus", body: null }],
    ["AgentStatus with {}", { type: "AgentStatus", body: {} }],
    ["TaskStatus with {}", { type: "TaskStatus", body: {} }],
    ["an unknown type with no body", { type: "AgentLoginStatus" }],
    ["an unknown type with a number body", { type: "AgentLoginStatus", body: 7 }],
    ["an unknown type with {}", { type: "AgentLoginStatus", body: {} }],
  ];

  it.each(refused)("%s → 422 on body, quarantined", async (_, payload) => {
    const tenant = await createTenant();
    const text = JSON.stringify(payload);
    const r = await post(tenant, "pds", text);
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe("invalid_payload");
    expect(r.body.error.issues.some((i: { path: string }) => i.path === "body" || i.path.startsWith("body."))).toBe(true);
    expect(await quarantineRows(tenant.id, text)).toHaveLength(1);
  });

  it("refuses an envelope without a type (422 on type), and accepts an unknown type with an object body as airudder.pds.unknown", async () => {
    const tenant = await createTenant();
    const noType = JSON.stringify({ body: agentBody() });
    const r = await post(tenant, "pds", noType);
    expect(r.status).toBe(422);
    expect(r.body.error.issues).toContainEqual({ path: "type", message: "required" });

    const unknown = JSON.stringify({ type: "AgentBreak", body: { agentName: "somchai.k", reason: "ทานข้าว 🍜" } });
    const ok = await post(tenant, "pds", unknown);
    expect(ok.status).toBe(200);
    expect(await storedEvent(ok.body.event_id)).toMatchObject({ type: "airudder.pds.unknown", kind: "pds", agent: "somchai.k" });
  });
});

describe("QA Sign", () => {
  const report = () => parsed("qa-report.full");

  it("refuses a missing, wrong or malformed Sign with 422 on Sign, kept in quarantine", async () => {
    const tenant = await createTenant();
    const missing = report();
    delete missing.Sign;
    const wrongTaskSign = { ...report(), Sign: parsed("qa-report.minimal").Sign };
    const notHex = { ...report(), Sign: "not-an-md5" };
    const numeric = { ...report(), Sign: 12345 };
    for (const [body, message] of [
      [missing, "required"],
      [wrongTaskSign, 'does not match MD5(TaskID + "airudder")'],
      [notHex, 'must be the hex MD5 of TaskID + "airudder"'],
      [numeric, 'must be the hex MD5 of TaskID + "airudder"'],
    ] as const) {
      const text = JSON.stringify(body);
      const r = await post(tenant, "qa-report", text);
      expect(r.status, text.slice(0, 80)).toBe(422);
      expect(r.body.error.issues).toContainEqual({ path: "Sign", message });
      expect(await quarantineRows(tenant.id, text)).toHaveLength(1);
    }
  });

  it("accepts the upper-case hex of the right MD5: the same digest", async () => {
    const tenant = await createTenant();
    const body = report();
    body.Sign = String(body.Sign).toUpperCase();
    const r = await post(tenant, "qa-report", JSON.stringify(body));
    expect(r.status).toBe(200);
    expect(await storedEvent(r.body.event_id)).toMatchObject({ type: "airudder.qa.report", task_id: "QA-20250314-7f3a9c" });
  });
});

describe("quarantine", () => {
  it("lists a refused callback with its issues, shows its raw body, and replays it as 422 while it still fails", async () => {
    const tenant = await createTenant();
    const text = '{"type":"ContactStatus","body":{}}';
    expect((await post(tenant, "pds", text)).status).toBe(422);

    const list = await admin("GET", `/v1/admin/quarantine?tenant=${tenant.id}`);
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    const item = list.body.data[0];
    expect(item).toMatchObject({ tenant: tenant.id, kind: "pds", times_received: 1, replayed_event_id: null });
    expect(item.issues.length).toBeGreaterThan(0);
    expect(item.issues.every((i: { path: string }) => i.path.startsWith("body"))).toBe(true);
    expect(item.body).toBeUndefined();

    const detail = await admin("GET", `/v1/admin/quarantine/${item.id}`);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ id: item.id, body: text, issues: item.issues });

    // AiRudder's retry of the same refused body counts on the same row.
    expect((await post(tenant, "pds", text)).status).toBe(422);
    expect((await admin("GET", `/v1/admin/quarantine/${item.id}`)).body.times_received).toBe(2);

    const replay = await admin("POST", `/v1/admin/quarantine/${item.id}/replay`);
    expect(replay.status).toBe(422);
    expect(replay.body.error).toMatchObject({ code: "invalid_payload", issues: item.issues });
    expect((await admin("GET", `/v1/admin/quarantine/${item.id}`)).body.replayed_event_id).toBeNull();
  });

  it("replays a kept body once an operator corrects its kind: 200, the event stored and delivered", async () => {
    const tenant = await createTenant();
    const sink = crm();
    await createDestination(tenant.id, { url: sink.url() });
    // A PDS callback sent to the workflow URL by mistake: no workflow_id, so refused and kept.
    const text = fixture("pds-agent-status.full");
    const refused = await post(tenant, "workflow", text);
    expect(refused.status).toBe(422);
    expect(refused.body.error.issues).toContainEqual({ path: "workflow_id", message: "required" });
    const [row] = await quarantineRows(tenant.id, text);
    expect(row).toMatchObject({ kind: "workflow" });
    expect((await admin("POST", `/v1/admin/quarantine/${row!.id}/replay`)).status).toBe(422);

    // The operator's fix: read the kept body by its shape.
    await everyDatabase.prepare("UPDATE quarantine SET kind = 'any' WHERE id = ?1").bind(row!.id).run();
    const replay = await admin("POST", `/v1/admin/quarantine/${row!.id}/replay`);
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({ ok: true, event_id: expect.stringMatching(/^evt_[0-9a-f]{32}$/) });

    const event = await storedEvent(replay.body.event_id);
    expect(event).toMatchObject({ type: "airudder.pds.agent_status", kind: "pds", ...expected["pds-agent-status.full"]!.columns });
    const delivered = await waitUntil(async () => sink.requests.find((q) => q.headers["webhook-id"] === replay.body.event_id));
    expect(envelopeOf(delivered)).toMatchObject({ type: "airudder.pds.agent_status", data: JSON.parse(text) });
    expect((await admin("GET", `/v1/admin/quarantine/${row!.id}`)).body.replayed_event_id).toBe(replay.body.event_id);

    // The same body at the right URL is the same event: nothing new is stored or sent.
    expect((await post(tenant, "pds", text)).body.event_id).toBe(replay.body.event_id);
    await new Promise((r) => setTimeout(r, 1500));
    expect(sink.requests.filter((q) => q.headers["webhook-id"] === replay.body.event_id)).toHaveLength(1);
  });
});

describe("per-call sequence", () => {
  it("numbers each call's events 1, 2, 3… in the order received, per tenant", async () => {
    const tenant = await createTenant();
    const sink = crm();
    await createDestination(tenant.id, { url: sink.url() });
    const callA = "seq-a-" + crypto.randomUUID();
    const callB = "seq-b-" + crypto.randomUUID();
    const agent = (callid: string, State: string, timestamp: string) =>
      JSON.stringify({ type: "AgentStatus", body: { ...parsed("pds-agent-status.full").body, callid, State, timestamp } });
    const bodies = [
      agent(callA, "RINGING", "1741919600000"),
      agent(callA, "ANSWERED", "1741919605000"),
      agent(callB, "CALLING", "1741919606000"),
      agent(callA, "HANGUP", "1741919690000"),
    ];
    const ids: string[] = [];
    for (const b of bodies) {
      const r = await post(tenant, "pds", b);
      expect(r.status).toBe(200);
      ids.push(r.body.event_id);
    }
    await waitUntil(async () => sink.requests.length >= 4);
    const seqOf = new Map(sink.requests.map((q) => [q.headers["webhook-id"], envelopeOf(q).seq]));
    expect(ids.map((id) => seqOf.get(id))).toEqual([1, 2, 1, 3]);

    const listed = await admin("GET", `/v1/admin/events?tenant=${tenant.id}&callid=${callA}`);
    expect(listed.body.data.map((e: { seq: number; state: string }) => [e.seq, e.state])).toEqual([
      [3, "HANGUP"],
      [2, "ANSWERED"],
      [1, "RINGING"],
    ]);

    // Another tenant's events of a call with the same id start again at 1.
    const other = await createTenant();
    const r = await post(other, "pds", bodies[0]!);
    expect((await storedEvent(r.body.event_id)).seq).toBe(1);
  });
});

describe("payload filters route deliveries", () => {
  it("delivers to a filtered destination only what its filter matches, also on replay to all", async () => {
    const tenant = await createTenant();
    const sink = crm();
    const transferred = await createDestination(tenant.id, { url: sink.url("/transferred"), filter: { "data.transfer_status": "2" } });
    const ended = await createDestination(tenant.id, {
      url: sink.url("/ended"),
      filter: { "data.body.State": { $in: ["HANGUP", "TALKRESULT"] } },
    });
    await createDestination(tenant.id, { url: sink.url("/all") });

    const notTransferred = JSON.stringify({ ...parsed("inbound-transfer.full"), callid: "filter-t-empty", transfer_status: "" });
    const calling = JSON.stringify({ type: "AgentStatus", body: { ...parsed("pds-agent-status.full").body, callid: "filter-calling", State: "CALLING" } });
    const posts: [string, string, boolean, boolean][] = [
      // kind, body, wanted by /transferred, wanted by /ended
      ["inbound-transfer", fixture("inbound-transfer.full"), true, false],
      // transfer_status 2 as a number: the filter's "2" matches it, as AiRudder mixes the two.
      ["inbound-transfer", fixture("inbound-transfer.quirky"), true, false],
      ["inbound-transfer", notTransferred, false, false],
      ["inbound-call-end", fixture("inbound-call-end.full"), false, false],
      ["pds", fixture("pds-agent-status.full"), false, true],
      ["pds", fixture("pds-agent-status.quirky"), false, true],
      ["pds", calling, false, false],
      // ContactStatus keeps its state in lower-case `state`: not matched by a filter on `State`.
      ["pds", fixture("pds-contact-status.full"), false, false],
    ];
    const ids: string[] = [];
    for (const [kind, body] of posts) {
      const r = await post(tenant, kind, body);
      expect(r.status).toBe(200);
      ids.push(r.body.event_id);
    }
    const at = (path: string) => sink.requests.filter((q) => new URL(q.url).pathname === path).map((q) => q.headers["webhook-id"]);
    const wanted = (column: 2 | 3) => ids.filter((_, i) => posts[i]![column]);
    await waitUntil(async () => at("/all").length >= posts.length && at("/transferred").length >= 2 && at("/ended").length >= 2);
    // Long enough for a delivery the filter should have stopped to show up.
    await new Promise((r) => setTimeout(r, 1000));
    expect(at("/all").sort()).toEqual([...ids].sort());
    expect(at("/transferred").sort()).toEqual(wanted(2).sort());
    expect(at("/ended").sort()).toEqual(wanted(3).sort());
    const listed = await admin("GET", `/v1/admin/deliveries?tenant=${tenant.id}&limit=100`);
    const count = (id: string) => listed.body.data.filter((d: { destination_id: string }) => d.destination_id === id).length;
    expect(count(transferred.id)).toBe(2);
    expect(count(ended.id)).toBe(2);

    // Replay to "all" means every destination that wants the event.
    const callingId = ids[6]!;
    const talkresultId = ids[4]!;
    const replayCalling = await admin("POST", `/v1/admin/events/${callingId}/replay`, {});
    expect(replayCalling).toMatchObject({ status: 202, body: { queued: 1 } });
    const replayTalk = await admin("POST", `/v1/admin/events/${talkresultId}/replay`, {});
    expect(replayTalk).toMatchObject({ status: 202, body: { queued: 2 } });
    await waitUntil(async () => at("/all").length >= posts.length + 2 && at("/ended").length >= 3);
    await new Promise((r) => setTimeout(r, 1000));
    expect(at("/ended").filter((id) => id === talkresultId)).toHaveLength(2);
    expect(at("/ended")).not.toContain(callingId);
    expect(at("/transferred")).not.toContain(callingId);
    expect(at("/transferred")).not.toContain(talkresultId);
  });

  it("refuses a malformed filter with 400 when a destination is created or changed", async () => {
    const tenant = await createTenant();
    const url = crm().url();
    const malformed: unknown[] = [
      {},
      [],
      "data.transfer_status=2",
      { "data.transfer_status": { $regex: "^2" } },
      { "data.transfer_status": {} },
      { "data.transfer_status": ["2"] },
      { "data..State": "HANGUP" },
      { $and: [{ "data.transfer_status": "2" }] },
      { $or: [] },
      { "data.body.State": { $in: [] } },
      { "data.body.State": { $exists: "yes" } },
    ];
    for (const filter of malformed) {
      const r = await admin("POST", `/v1/admin/tenants/${tenant.id}/destinations`, { url, filter });
      expect(r.status, JSON.stringify(filter)).toBe(400);
      expect(r.body.error.code).toBe("invalid_request");
    }
    const listed = await admin("GET", `/v1/admin/tenants/${tenant.id}/destinations`);
    expect(listed.body.data).toHaveLength(0);

    const good = { "data.body.State": { $in: ["HANGUP", "TALKRESULT"] } };
    const dest = await createDestination(tenant.id, { url, filter: good });
    for (const filter of malformed) {
      const r = await admin("PATCH", `/v1/admin/destinations/${dest.id}`, { filter });
      expect(r.status, JSON.stringify(filter)).toBe(400);
    }
    expect((await admin("GET", `/v1/admin/destinations/${dest.id}`)).body.filter).toEqual(good);
    const cleared = await admin("PATCH", `/v1/admin/destinations/${dest.id}`, { filter: null });
    expect(cleared).toMatchObject({ status: 200, body: { filter: null } });
  });
});
