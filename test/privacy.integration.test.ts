import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { phoneSpellings } from "../src/admin/privacy";
import type { Env } from "../src/env";
import worker from "../src/index";
import { continueErase, ERASE_PAGE, startErase } from "../src/maintenance/erase";
import { eraseJobSchema, type EraseJob } from "../src/queue-messages";
import sample from "./fixtures/inbound-transfer.sample.json?raw";
import { ADMIN, admin, attemptsOfDelivery, createDestination, createTenant, fakeCrm, postCallback, storedPayload, uniqueId, waitUntil } from "./helpers";
import { everyDatabase } from "./every-database";

const crms: ReturnType<typeof fakeCrm>[] = [];
const consoleSpies: { mockRestore(): void }[] = [];
afterEach(() => {
  crms.splice(0).forEach((c) => c.restore());
  consoleSpies.splice(0).forEach((s) => s.mockRestore());
});

function captureConsole(): string[] {
  const lines: string[] = [];
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    consoleSpies.push(
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a) ?? String(a))).join(" "));
      }),
    );
  }
  return lines;
}

/** A Thai mobile number unique to this run, in the spellings AiRudder uses, and its neighbours. */
function numbers() {
  const digits = "668" + String(Math.floor(Math.random() * 1e8)).padStart(8, "0");
  const last = Number(digits.at(-1));
  return {
    digits,
    plus: "+" + digits,
    spaced: `+${digits.slice(0, 2)} ${digits.slice(2, 4)}-${digits.slice(4, 7)}-${digits.slice(7)}`,
    neighbour: digits.slice(0, -1) + String((last + 1) % 10),
    longer: digits + "9",
    national: "0" + digits.slice(2),
  };
}

const inbound = (callid: string, caller: string, line = "Human: hello") => {
  const p = JSON.parse(sample) as Record<string, unknown>;
  return JSON.stringify({ ...p, callid, caller_number: caller, asr_result: ["Robot: hi", line] });
};
const pds = (callid: string, phone: string) =>
  JSON.stringify({ type: "AgentStatus", body: { callid, phoneNumber: phone, State: "CALLING", agentName: "Somchai", timestamp: "1741919612345" } });
const generic = (callid: string, note: string) => JSON.stringify({ callid, note });

type EventRow = { id: string; tenant_id: string; kind: string; type: string; callid: string | null; received_at: number; payload: string | null; payload_state: string; phone_masked: string | null };
const eventsOf = async (tenant: string) =>
  (await everyDatabase.prepare("SELECT * FROM events WHERE tenant_id = ?1").bind(tenant).all<EventRow>()).results;

describe("POST /v1/admin/tenants/{id}/erase", () => {
  it("erases exactly the payloads holding the number, in any of its spellings, and keeps the metadata", async () => {
    const n = numbers();
    const crm = fakeCrm();
    crms.push(crm);
    const tenant = await createTenant();
    const other = await createTenant();
    await createDestination(tenant.id, { url: crm.url() });

    const lines = captureConsole();
    const holding = {
      plusCaller: ["inbound-transfer", inbound("c-plus", n.plus)],
      digitsPds: ["pds", pds("c-digits", n.digits)],
      inTranscript: ["any", generic("c-text", `Human: call me on ${n.digits} please`)],
      digitsInTranscript: ["inbound-transfer", inbound("c-asr", "", `Human: ${n.plus}`)],
    } as const;
    const notHolding = {
      neighbour: ["inbound-transfer", inbound("c-neighbour", "+" + n.neighbour)],
      longer: ["pds", pds("c-longer", n.longer)],
      longerInText: ["any", generic("c-longer-text", `ref 1${n.digits}`)],
      national: ["inbound-transfer", inbound("c-national", n.national)],
    } as const;
    const ids: Record<string, string> = {};
    for (const [name, [kind, body]] of Object.entries({ ...holding, ...notHolding })) {
      const res = await postCallback(tenant.id, kind, body, tenant.token);
      expect(res.status, name).toBe(200);
      ids[name] = ((await res.json()) as { event_id: string }).event_id;
    }
    const otherRes = await postCallback(other.id, "inbound-transfer", inbound("c-other", n.plus), other.token);
    expect(otherRes.status).toBe(200);
    const otherId = ((await otherRes.json()) as { event_id: string }).event_id;
    // Refused bodies are kept in quarantine; the erase reaches them too.
    expect((await postCallback(tenant.id, "inbound-transfer", JSON.stringify({ callid: "", caller_number: n.plus }), tenant.token)).status).toBe(422);
    expect((await postCallback(tenant.id, "inbound-transfer", JSON.stringify({ callid: "", caller_number: n.neighbour }), tenant.token)).status).toBe(422);
    expect((await postCallback(tenant.id, "inbound-transfer", `{"caller_number":"${n.plus}"`, tenant.token)).status).toBe(400);

    const total = Object.keys(ids).length;
    await waitUntil(async () => (await eventsOf(tenant.id)).length === total && (await eventsOf(other.id)).length === 1);
    await waitUntil(async () => crm.requests.length === total);
    const deliveredOf = async () => (await admin("GET", `/v1/admin/deliveries?tenant=${tenant.id}&status=delivered&limit=100`)).body.data as { id: string }[];
    await waitUntil(async () => (await deliveredOf()).length === total);

    // Searchable columns keep at most the last four digits; no log line holds a number.
    const before = await eventsOf(tenant.id);
    for (const e of before) {
      if (e.phone_masked !== null) expect(e.phone_masked).toMatch(/^\*{3}\d{1,4}$/);
    }
    expect(before.find((e) => e.id === ids.plusCaller)!.phone_masked).toBe("***" + n.digits.slice(-4));
    const listed = await admin("GET", `/v1/admin/events?tenant=${tenant.id}&limit=50`);
    for (const e of listed.body.data as { phone_masked: string | null }[]) expect(e.phone_masked ?? "").not.toMatch(/\d{5}/);
    for (const spelling of [n.digits, n.national.slice(1), n.neighbour, n.digits.slice(2)]) {
      expect(lines.filter((l) => l.includes(spelling))).toEqual([]);
    }

    const quarantineBefore = await everyDatabase.prepare("SELECT body FROM quarantine WHERE tenant_id = ?1").bind(tenant.id).all<{ body: string }>();
    expect(quarantineBefore.results).toHaveLength(2);

    const erased = await admin("POST", `/v1/admin/tenants/${tenant.id}/erase`, { phone: n.spaced });
    expect(erased.status).toBe(200);
    const expected = Object.keys(holding).map((k) => ids[k]!);
    expect(erased.body.events).toBe(expected.length);
    expect([...erased.body.event_ids].sort()).toEqual([...expected].sort());

    const after = new Map((await eventsOf(tenant.id)).map((e) => [e.id, e]));
    for (const e of before) {
      const now = after.get(e.id)!;
      if (expected.includes(e.id)) {
        expect(now).toMatchObject({ payload: null, payload_state: "erased" });
        expect(now.phone_masked).toBeNull();
        // Metadata stays.
        expect(now).toMatchObject({ tenant_id: e.tenant_id, kind: e.kind, type: e.type, callid: e.callid, received_at: e.received_at });
      } else {
        expect(now).toEqual(e);
      }
    }
    const otherRow = (await eventsOf(other.id))[0]!;
    expect(otherRow).toMatchObject({ id: otherId, payload_state: "kept" });
    expect(await storedPayload(otherId)).toContain(n.plus);

    // Deliveries and their attempts are kept.
    const deliveries = await deliveredOf();
    expect(deliveries).toHaveLength(total);
    for (const d of deliveries) expect(await attemptsOfDelivery(d.id)).toHaveLength(1);

    const detail = await admin("GET", `/v1/admin/events/${ids.plusCaller}`);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ id: ids.plusCaller, payload: null, payload_state: "erased", callid: "c-plus" });
    expect(detail.body.deliveries).toHaveLength(1);
    expect(detail.body.deliveries[0]).toMatchObject({ status: "delivered", attempts: [expect.objectContaining({ status_code: 200 })] });
    expect(JSON.stringify(detail.body)).not.toContain(n.digits);
    const kept = await admin("GET", `/v1/admin/events/${ids.neighbour}`);
    expect(kept.body.payload).toMatchObject({ caller_number: "+" + n.neighbour });

    // The quarantined copy holding the number is gone; the other one is not.
    const quarantineAfter = await everyDatabase.prepare("SELECT body FROM quarantine WHERE tenant_id = ?1").bind(tenant.id).all<{ body: string }>();
    expect(quarantineAfter.results.map((q) => q.body)).toEqual([JSON.stringify({ callid: "", caller_number: n.neighbour })]);

    // Nothing is left to erase; the digits-only spelling of the neighbour touches only its event.
    expect((await admin("POST", `/v1/admin/tenants/${tenant.id}/erase`, { phone: n.plus })).body).toEqual({ events: 0, event_ids: [], complete: true });
    const neighbour = await admin("POST", `/v1/admin/tenants/${tenant.id}/erase`, { phone: n.neighbour });
    expect(neighbour.body).toEqual({ events: 1, event_ids: [ids.neighbour], complete: true });
  });

  it("answers 404 for an unknown tenant and touches nothing", async () => {
    const n = numbers();
    const tenant = await createTenant();
    const res = await postCallback(tenant.id, "inbound-transfer", inbound("c-x", n.plus), tenant.token);
    expect(res.status).toBe(200);
    await waitUntil(async () => (await eventsOf(tenant.id)).length === 1);
    const missing = await admin("POST", `/v1/admin/tenants/${tenant.id}-gone/erase`, { phone: n.plus });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("not_found");
    expect((await eventsOf(tenant.id))[0]!.payload_state).toBe("kept");
  });
});

/** The Worker's env with a deliveries queue that only records what is sent to it: no consumer takes erase jobs here. */
function recordingEnv() {
  const sent: unknown[] = [];
  const queue = {
    send: async (body: unknown) => void sent.push(body),
    sendBatch: async (messages: Iterable<{ body: unknown }>) => void sent.push(...[...messages].map((m) => m.body)),
  };
  return { env: { ...env, DELIVERIES_QUEUE: queue as unknown as Env["DELIVERIES_QUEUE"] } as Env, sent };
}

/**
 * `count` events of a tenant written straight into D1, every third holding
 * `phone` and the rest `other`; seven share each received_at, so that page
 * boundaries fall inside a run of equal times. Answers the ids holding `phone`.
 */
async function manyEvents(tenant: string, count: number, phone: string, other: string): Promise<string[]> {
  const base = Date.now() - 86_400_000;
  const inserted = await everyDatabase.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?2 - 1)
     INSERT INTO events (id, tenant_id, kind, type, received_at, payload, callid, batch_nonce)
     SELECT 'evt_' || lower(hex(randomblob(32))), ?1, 'any', 'airudder.generic', ?3 + i / 7,
            json_object('callid', 'c' || i, 'caller_number', CASE WHEN i % 3 = 0 THEN ?4 ELSE ?5 END), 'c' || i, 'test'
     FROM n
     RETURNING id, payload`,
  )
    .bind(tenant, count, base, phone, other)
    .all<{ id: string; payload: string }>();
  expect(inserted.results).toHaveLength(count);
  return inserted.results.filter((r) => r.payload.includes(phone)).map((r) => r.id);
}

const payloadStates = async (tenant: string) =>
  (
    await everyDatabase.prepare("SELECT payload_state, COUNT(*) AS n FROM events WHERE tenant_id = ?1 GROUP BY payload_state ORDER BY payload_state")
      .bind(tenant)
      .all<{ payload_state: string; n: number }>()
  ).results;

describe("erase over a tenant larger than one page", () => {
  it("erases every page, runs of equal received_at across page boundaries included, in the request or in the jobs it queues", async () => {
    const n = numbers();
    const tenant = await createTenant();
    const other = await createTenant();
    const count = 2 * ERASE_PAGE + 500;
    const expected = await manyEvents(tenant.id, count, n.plus, "+" + n.neighbour);
    await manyEvents(other.id, 10, n.plus, "+" + n.neighbour);
    expect(expected).toHaveLength(Math.ceil(count / 3));

    const recording = recordingEnv();
    const res = await worker.fetch(
      new Request(`https://relay.test/v1/admin/tenants/${tenant.id}/erase`, {
        method: "POST",
        headers: { ...ADMIN, "content-type": "application/json" },
        body: JSON.stringify({ phone: n.plus }),
      }),
      recording.env,
      createExecutionContext(),
    );
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { events: number; event_ids: string[]; complete: boolean };
    expect(answer.events).toBe(answer.event_ids.length);
    // Whatever the request had no time for is on the queue; each job, run, queues the next.
    const erased = [...answer.event_ids];
    let complete = answer.complete;
    while (!complete) {
      expect(recording.sent).toHaveLength(1);
      const progress = await continueErase(recording.env, eraseJobSchema.parse(recording.sent.shift()));
      erased.push(...progress.event_ids);
      complete = progress.complete;
    }
    expect(recording.sent).toEqual([]);

    expect(erased).toHaveLength(expected.length);
    expect([...erased].sort()).toEqual([...expected].sort());
    expect(await payloadStates(tenant.id)).toEqual([
      { payload_state: "erased", n: expected.length },
      { payload_state: "kept", n: count - expected.length },
    ]);
    expect(await payloadStates(other.id)).toEqual([{ payload_state: "kept", n: 10 }]);
  });

  it("hands the rest to a queued job when its time is up, with the number sealed, and continueErase finishes it", async () => {
    const n = numbers();
    const tenant = await createTenant();
    const count = 2 * ERASE_PAGE + 1;
    const expected = await manyEvents(tenant.id, count, n.digits, n.neighbour);
    expect((await postCallback(tenant.id, "inbound-transfer", JSON.stringify({ callid: "", caller_number: n.digits }), tenant.token)).status).toBe(422);

    // No time at all: every call does one page and queues the rest.
    const recording = recordingEnv();
    const first = await startErase(recording.env, tenant.id, phoneSpellings(n.digits), 0);
    expect(first).toMatchObject({ complete: false });
    const erased = [...first.event_ids];
    const jobs: EraseJob[] = [];
    for (let progress = first; !progress.complete; ) {
      expect(recording.sent).toHaveLength(1);
      const message = recording.sent.shift();
      expect(JSON.stringify(message)).not.toContain(n.digits.slice(2));
      const job = eraseJobSchema.parse(message);
      jobs.push(job);
      progress = await continueErase(recording.env, job, 0);
      erased.push(...progress.event_ids);
    }

    // Three pages of events in the first shard (the last one short), then the
    // second shard's (none of these: they were written to the first), then
    // quarantine, inbox and dead letters.
    expect(jobs.map((j) => [j.table, j.shard ?? 0])).toEqual([
      ["events", 0],
      ["events", 0],
      ["events", 1],
      ["quarantine", 0],
      ["inbox", 0],
      ["dead_letters", 0],
    ]);
    expect(jobs.every((j) => j.tenant_id === tenant.id)).toBe(true);
    expect([...erased].sort()).toEqual([...expected].sort());
    expect(await payloadStates(tenant.id)).toEqual([
      { payload_state: "erased", n: expected.length },
      { payload_state: "kept", n: count - expected.length },
    ]);
    const quarantined = await everyDatabase.prepare("SELECT COUNT(*) AS n FROM quarantine WHERE tenant_id = ?1").bind(tenant.id).first<{ n: number }>();
    expect(quarantined!.n).toBe(0);

    // A job delivered twice finds nothing left to erase.
    expect(await continueErase(recording.env, jobs[0]!)).toEqual({ event_ids: [], complete: true });
  });
});

describe("an erase job on the deliveries queue", () => {
  it("is run by the deliveries consumer, acked, and hands on the next page as a job", async () => {
    const n = numbers();
    const tenant = await createTenant();
    const expected = await manyEvents(tenant.id, ERASE_PAGE + 3, n.digits, n.neighbour);
    const recording = recordingEnv();
    const first = await startErase(recording.env, tenant.id, phoneSpellings(n.digits), 0);
    expect(first.complete).toBe(false);
    const job = eraseJobSchema.parse(recording.sent.shift());

    const batch = createMessageBatch("airudder-relay-deliveries", [{ id: "erase-1", timestamp: new Date(), attempts: 1, body: job }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, recording.env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual(["erase-1"]);
    expect(result.retryMessages).toEqual([]);
    const erased = await everyDatabase.prepare("SELECT COUNT(*) AS n FROM events WHERE tenant_id = ?1 AND payload_state = 'erased'").bind(tenant.id).first<{ n: number }>();
    expect(erased!.n).toBeGreaterThan(first.event_ids.length);
    expect(erased!.n).toBeLessThanOrEqual(expected.length);
  });
});

describe("erase reaches copies outside the events", () => {
  it("deletes the tenant's dead letters holding the number, not another tenant's or another number's", async () => {
    const n = numbers();
    const tenant = await createTenant();
    const other = await createTenant();
    const callbackMessage = (tenantId: string, caller: string) => ({
      t: "callback",
      event_id: `evt_${crypto.randomUUID().replace(/-/g, "")}`,
      tenant_id: tenantId,
      kind: "inbound-transfer",
      type: "airudder.inbound.transfer",
      received_at: Date.now(),
      body: inbound(uniqueId("c"), caller),
    });
    const messages = {
      holding: callbackMessage(tenant.id, n.plus),
      neighbour: callbackMessage(tenant.id, "+" + n.neighbour),
      otherTenant: callbackMessage(other.id, n.plus),
      delivery: { t: "delivery", delivery_id: uniqueId("dlv") },
    };
    // Recorded the way the dead-letter consumer records every message that exhausted its retries.
    const batch = createMessageBatch(
      "airudder-relay-dead-letters",
      Object.entries(messages).map(([name, body]) => ({ id: uniqueId(`dl-${name}`), timestamp: new Date(), attempts: 11, body })),
    );
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toHaveLength(4);
    const ids = Object.fromEntries(batch.messages.map((m, i) => [Object.keys(messages)[i]!, m.id]));
    const deadLetters = async () =>
      (
        await everyDatabase.prepare("SELECT id FROM dead_letters WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id")
          .bind(JSON.stringify(Object.values(ids)))
          .all<{ id: string }>()
      ).results.map((r) => r.id);
    expect(await deadLetters()).toHaveLength(4);

    const erased = await admin("POST", `/v1/admin/tenants/${tenant.id}/erase`, { phone: n.spaced });
    expect(erased.status).toBe(200);
    expect(erased.body).toEqual({ events: 0, event_ids: [], complete: true });
    expect(await deadLetters()).toEqual([ids.neighbour, ids.otherTenant, ids.delivery].sort());
  });

  it("clears the CRM answers echoing the number from the attempts of erased events, and keeps the attempts", async () => {
    const n = numbers();
    // A CRM that refuses what it received and echoes it, number included (the
    // answer to a failed attempt is kept; a first attempt delivered inline keeps none).
    const crm = fakeCrm((req) => new Response(req.body, { status: 422 }));
    crms.push(crm);
    const tenant = await createTenant();
    await createDestination(tenant.id, { url: crm.url() });
    const holdingId = ((await (await postCallback(tenant.id, "inbound-transfer", inbound("c-echo", n.plus), tenant.token)).json()) as { event_id: string }).event_id;
    const otherId = ((await (await postCallback(tenant.id, "inbound-transfer", inbound("c-keep", "+" + n.neighbour), tenant.token)).json()) as { event_id: string }).event_id;
    type AttemptRow = { event_id: string; status_code: number; response_body: string | null };
    const attempts = async () =>
      (
        await everyDatabase.prepare(
          "SELECT d.event_id, a.status_code, a.response_body FROM deliveries d JOIN attempts a ON a.delivery_id = d.id WHERE d.tenant_id = ?1 ORDER BY d.event_id",
        )
          .bind(tenant.id)
          .all<AttemptRow>()
      ).results;
    const before = await waitUntil(async () => {
      const rows = await attempts();
      return rows.length === 2 && rows;
    });
    const echo = (id: string) => before.find((a) => a.event_id === id)!.response_body;
    expect(echo(holdingId)).toContain(n.plus);
    expect(echo(otherId)).toContain(n.neighbour);

    const erased = await admin("POST", `/v1/admin/tenants/${tenant.id}/erase`, { phone: n.plus });
    expect(erased.body).toEqual({ events: 1, event_ids: [holdingId], complete: true });

    const after = await attempts();
    expect(after.find((a) => a.event_id === holdingId)).toEqual({ event_id: holdingId, status_code: 422, response_body: null });
    expect(after.find((a) => a.event_id === otherId)).toEqual(before.find((a) => a.event_id === otherId));
    const detail = await admin("GET", `/v1/admin/events/${holdingId}`);
    expect(detail.body.deliveries[0].attempts.length).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(detail.body)).not.toContain(n.digits);
  });
});
