import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { families, familyFor, urlKinds, type FamilyKind } from "../src/callbacks/families";
import { validateCallback } from "../src/ingest/validate";
import sample from "./fixtures/inbound-transfer.sample.json?raw";
import { createTenant, postCallback, waitUntil } from "./helpers";
import { everyDatabase } from "./every-database";

/** Keys the family detection and schemas look at, so that generated bodies often get past the first checks. */
const airudderKeys = [
  "callid",
  "type",
  "body",
  "TaskID",
  "Sign",
  "workflow_id",
  "status",
  "transfer_status",
  "robot_id",
  "asr_result",
  "call_start_time",
  "caller_number",
  "State",
  "state",
  "taskId",
  "phoneNumber",
  "timestamp",
  "QADetail",
];
const airudderValues = ["", "2", "AgentStatus", "ContactStatus", "TaskStatus", "1741919612345", "2024-02-01 10:02:14", "+66812345678", "None"];

const json = fc.jsonValue({ maxDepth: 4 });
const value = fc.oneof(json, fc.constantFrom<unknown>(...airudderValues, null, 0, [], {}));
const key = fc.oneof(fc.constantFrom(...airudderKeys), fc.string({ maxLength: 12 }), fc.constantFrom("__proto__", "constructor", "prototype"));
const airudderish = fc.dictionary(key, value, { maxKeys: 12 });
const pdsish = fc.record(
  {
    type: fc.oneof(fc.constantFrom("AgentStatus", "ContactStatus", "TaskStatus", "agent_status"), fc.string({ maxLength: 10 }), json),
    body: fc.oneof(airudderish, value),
  },
  { requiredKeys: [] },
);
const sampleObject = JSON.parse(sample) as Record<string, unknown>;
const mutatedSample = fc
  .array(fc.tuple(fc.constantFrom(...Object.keys(sampleObject), ...airudderKeys), fc.option(value, { nil: undefined })), { maxLength: 4 })
  .map((changes) => {
    const copy: Record<string, unknown> = { ...sampleObject };
    for (const [k, v] of changes) {
      if (v === undefined) delete copy[k];
      else copy[k] = v;
    }
    return copy;
  });

const id = fc.oneof(fc.string({ minLength: 1, maxLength: 16 }), fc.integer());
/** Each family's identity fields with random company, so that a good share passes its schema. */
const nearValid = fc.oneof(
  fc.tuple(airudderish, id).map(([extra, callid]) => ({ ...extra, callid })),
  fc
    .tuple(fc.constantFrom("AgentStatus", "ContactStatus", "TaskStatus", "SomethingNew"), airudderish, id)
    .map(([type, extra, ident]) => ({ type, body: { ...extra, callid: ident, taskId: ident } })),
  // Sign is the hex MD5 of TaskID + "airudder".
  airudderish.map((extra) => ({ ...extra, TaskID: "T1", Sign: "d57f4357fe61bdf073b0e0af708a4429" })),
  fc.tuple(airudderish, id).map(([extra, workflow_id]) => ({ ...extra, workflow_id })),
);

const payloads = fc.oneof(nearValid, airudderish, pdsish, mutatedSample, fc.object({ maxDepth: 3 }));
const bodies = fc.oneof(
  { arbitrary: payloads.map((p) => JSON.stringify(p)), weight: 6 },
  { arbitrary: json.map((v) => JSON.stringify(v)), weight: 1 },
  { arbitrary: fc.json({ maxDepth: 4 }), weight: 1 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
);

/** Parses as JSON does, so that `__proto__` keys are own properties, as they are at ingest. */
const asReceived = (p: object) => JSON.parse(JSON.stringify(p)) as Record<string, unknown>;

describe("fuzzed callbacks", () => {
  let tenant: { id: string; token: string };
  const accepted = new Set<string>();
  beforeAll(async () => {
    tenant = await createTenant();
  });

  it.each(urlKinds)("answers only 200, 400 or 422 to %s, in the house shape", async (kind) => {
    await fc.assert(
      fc.asyncProperty(bodies, async (body) => {
        const res = await postCallback(tenant.id, kind, body, tenant.token);
        const answer = (await res.json()) as { ok: boolean; event_id?: string; error?: { code: string; request_id: string; issues?: unknown[] } };
        expect([200, 400, 422], `${res.status} for ${body.slice(0, 200)}`).toContain(res.status);
        if (res.status === 200) {
          expect(answer.event_id).toMatch(/^evt_[0-9a-f]{32}$/);
          accepted.add(answer.event_id!);
        } else {
          expect(answer.ok).toBe(false);
          expect(answer.error!.code).toBe(res.status === 400 ? "invalid_json" : "invalid_payload");
          expect(answer.error!.request_id).toEqual(expect.any(String));
          if (res.status === 422) expect(answer.error!.issues!.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 150 },
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("stores every callback it accepted: the consumer chokes on none of them", async () => {
    expect(accepted.size).toBeGreaterThan(0);
    const ids = JSON.stringify([...accepted]);
    await waitUntil(
      async () =>
        (await everyDatabase.prepare("SELECT COUNT(*) AS n FROM events WHERE id IN (SELECT value FROM json_each(?1))").bind(ids).first<{ n: number }>())!.n ===
        accepted.size,
      20_000,
    );
  });
});

describe("validateCallback, fuzzed", () => {
  it("never throws, and what passes yields searchable columns without throwing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...urlKinds), payloads, async (kind, generated) => {
        const payload = asReceived(generated);
        const result = await validateCallback(kind, payload);
        if (result.ok) {
          expect(result.eventType).toMatch(/^airudder\./);
          const columns = families[result.family.kind as FamilyKind].columns(payload);
          if (columns.phone_masked !== null) expect(columns.phone_masked).toMatch(/^\*\*\*\d{1,4}$/);
        } else {
          expect(result.issues.length).toBeGreaterThan(0);
          for (const issue of result.issues) expect(issue).toEqual({ path: expect.any(String), message: expect.any(String) });
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("identity schemas, fuzzed", () => {
  const verdict = async (schema: { safeParseAsync(p: unknown): Promise<{ success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }> }, payload: unknown) => {
    const r = await schema.safeParseAsync(payload);
    return r.success ? "ok" : r.error!.issues.map((i) => `${i.path.map(String).join(".")}: ${i.message}`);
  };

  it("refuse exactly what the documented schemas refuse, with the same issues", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...urlKinds), payloads, async (kind, generated) => {
        const payload = asReceived(generated);
        const { schema, identity } = familyFor(kind, payload).variant(payload);
        expect(await verdict(identity, payload)).toEqual(await verdict(schema, payload));
      }),
      { numRuns: 3000 },
    );
  });
});
