import { describe, expect, it } from "vitest";
import { matchesFilter, payloadFilterSchema, type PayloadFilter } from "../src/delivery/payload-filter";

/** The document a destination's filter sees: the outbound envelope with `data` parsed. */
const doc = (data: unknown) => ({
  id: "evt_0123456789abcdef0123456789abcdef",
  type: "airudder.pds.agent_status",
  tenant: "acme",
  received_at: "2025-03-14T02:33:33.000Z",
  data,
});

const agentStatus = doc({
  type: "AgentStatus",
  body: {
    callid: "pds-1",
    State: "HANGUP",
    hangupReason: "3",
    nthCall: 2,
    talkResultLabel: "",
    remark: null,
    curDayCallCount: { auto: 41, manual: 3 },
    customizeResults: { Nopaymentreason: "Salary delayed" },
  },
});

const inbound = doc({ callid: "c-1", transfer_status: "2", duration: "", duration_robot: 188 });

const parse = (f: unknown) => payloadFilterSchema.parse(f) as PayloadFilter;
const matches = (f: unknown, d: unknown) => matchesFilter(parse(f), d);

describe("matchesFilter", () => {
  it("compares a plain value for equality at a dotted path", () => {
    expect(matches({ "data.transfer_status": "2" }, inbound)).toBe(true);
    expect(matches({ "data.transfer_status": "1" }, inbound)).toBe(false);
    expect(matches({ "data.body.State": "HANGUP" }, agentStatus)).toBe(true);
    expect(matches({ "data.body.State": "hangup" }, agentStatus)).toBe(false);
    expect(matches({ type: "airudder.pds.agent_status", tenant: "acme" }, agentStatus)).toBe(true);
    expect(matches({ "data.body.curDayCallCount.auto": 41 }, agentStatus)).toBe(true);
    expect(matches({ "data.body.customizeResults.Nopaymentreason": "Salary delayed" }, agentStatus)).toBe(true);
  });

  it("treats a number and the numeric string of it as equal, since AiRudder sends either", () => {
    expect(matches({ "data.body.hangupReason": 3 }, agentStatus)).toBe(true);
    expect(matches({ "data.body.hangupReason": "3" }, agentStatus)).toBe(true);
    expect(matches({ "data.body.nthCall": "2" }, agentStatus)).toBe(true);
    expect(matches({ "data.body.nthCall": "2.0" }, agentStatus)).toBe(true);
    expect(matches({ "data.transfer_status": 2 }, inbound)).toBe(true);
    expect(matches({ "data.body.hangupReason": 4 }, agentStatus)).toBe(false);
    // Only numbers are loose: "" is not 0, null is not 0, true is not 1, two strings compare as text.
    expect(matches({ "data.duration": 0 }, inbound)).toBe(false);
    expect(matches({ "data.body.remark": 0 }, agentStatus)).toBe(false);
    expect(matches({ "data.body.nthCall": true }, agentStatus)).toBe(false);
    expect(matches({ "data.transfer_status": "2.0" }, inbound)).toBe(false);
    expect(matches({ "data.callid": 0 }, doc({ callid: "0x0" }))).toBe(false);
  });

  it("$eq and $neq", () => {
    expect(matches({ "data.body.State": { $eq: "HANGUP" } }, agentStatus)).toBe(true);
    expect(matches({ "data.body.State": { $eq: "CALLING" } }, agentStatus)).toBe(false);
    expect(matches({ "data.body.State": { $neq: "CALLING" } }, agentStatus)).toBe(true);
    expect(matches({ "data.body.State": { $neq: "HANGUP" } }, agentStatus)).toBe(false);
    expect(matches({ "data.body.hangupReason": { $neq: 3 } }, agentStatus)).toBe(false);
    expect(matches({ "data.body.remark": { $eq: null } }, agentStatus)).toBe(true);
    // A missing field is not equal to anything, so $neq holds for it.
    expect(matches({ "data.body.missing": { $neq: "x" } }, agentStatus)).toBe(true);
    expect(matches({ "data.body.missing": { $eq: null } }, agentStatus)).toBe(false);
  });

  it("$in", () => {
    const f = { "data.body.State": { $in: ["HANGUP", "TALKRESULT"] } };
    expect(matches(f, agentStatus)).toBe(true);
    expect(matches(f, doc({ body: { State: "TALKRESULT" } }))).toBe(true);
    expect(matches(f, doc({ body: { State: "CALLING" } }))).toBe(false);
    expect(matches(f, doc({ body: { state: "HANGUP" } }))).toBe(false);
    expect(matches({ "data.body.hangupReason": { $in: [2, 3, 12] } }, agentStatus)).toBe(true);
    expect(matches({ "data.body.hangupReason": { $in: [2, 12] } }, agentStatus)).toBe(false);
  });

  it("$exists tells a missing field from one that is present, even as null or \"\"", () => {
    expect(matches({ "data.body.State": { $exists: true } }, agentStatus)).toBe(true);
    expect(matches({ "data.body.remark": { $exists: true } }, agentStatus)).toBe(true);
    expect(matches({ "data.body.talkResultLabel": { $exists: true } }, agentStatus)).toBe(true);
    expect(matches({ "data.body.recLink": { $exists: true } }, agentStatus)).toBe(false);
    expect(matches({ "data.body.recLink": { $exists: false } }, agentStatus)).toBe(true);
    expect(matches({ "data.body.State.deeper": { $exists: false } }, agentStatus)).toBe(true);
    expect(matches({ "data.transfer_status": { $exists: false } }, agentStatus)).toBe(true);
  });

  it("$gte and $lte compare numbers and numeric strings as numbers, other strings as text", () => {
    expect(matches({ "data.body.hangupReason": { $gte: 3, $lte: 3 } }, agentStatus)).toBe(true);
    expect(matches({ "data.body.hangupReason": { $gte: 4 } }, agentStatus)).toBe(false);
    expect(matches({ "data.body.hangupReason": { $gte: "10" } }, agentStatus)).toBe(false);
    expect(matches({ "data.duration_robot": { $gte: "100", $lte: 200 } }, inbound)).toBe(true);
    expect(matches({ "data.duration_robot": { $lte: 100 } }, inbound)).toBe(false);
    // "10" >= "9" as numbers, though not as text.
    expect(matches({ "data.n": { $gte: "9" } }, doc({ n: "10" }))).toBe(true);
    expect(matches({ received_at: { $gte: "2025-03-14T00:00:00Z", $lte: "2025-03-15T00:00:00Z" } }, agentStatus)).toBe(true);
    expect(matches({ received_at: { $gte: "2025-03-15" } }, agentStatus)).toBe(false);
    // Nothing to compare: a missing field, "" or a string against a number.
    expect(matches({ "data.duration": { $gte: 0 } }, inbound)).toBe(false);
    expect(matches({ "data.missing": { $lte: 10 } }, inbound)).toBe(false);
    expect(matches({ "data.body.State": { $gte: 1 } }, agentStatus)).toBe(false);
  });

  it("needs every condition to hold, and $or needs one of its alternatives", () => {
    expect(matches({ "data.body.State": "HANGUP", "data.body.nthCall": 2 }, agentStatus)).toBe(true);
    expect(matches({ "data.body.State": "HANGUP", "data.body.nthCall": 1 }, agentStatus)).toBe(false);
    const either = { $or: [{ "data.transfer_status": "2" }, { "data.body.State": { $in: ["HANGUP"] } }] };
    expect(matches(either, inbound)).toBe(true);
    expect(matches(either, agentStatus)).toBe(true);
    expect(matches(either, doc({ body: { State: "CALLING" } }))).toBe(false);
    const nested = { type: "airudder.pds.agent_status", $or: [{ $or: [{ "data.body.nthCall": 9 }, { "data.body.hangupReason": 3 }] }] };
    expect(matches(nested, agentStatus)).toBe(true);
    expect(matches({ ...nested, type: "airudder.generic" }, agentStatus)).toBe(false);
  });

  it("reads array elements by index and never walks into strings or inherited properties", () => {
    const d = doc({ asr_result: ["Robot: สวัสดีค่ะ", "Human: 1"], callid: "abc" });
    expect(matches({ "data.asr_result.1": "Human: 1" }, d)).toBe(true);
    expect(matches({ "data.callid.length": { $exists: true } }, d)).toBe(false);
    expect(matches({ "data.constructor": { $exists: true } }, d)).toBe(false);
    expect(matches({ "data.__proto__": { $exists: true } }, d)).toBe(false);
  });
});

describe("payloadFilterSchema", () => {
  it("accepts the documented forms", () => {
    for (const f of [
      { "data.transfer_status": "2" },
      { "data.body.State": { $in: ["HANGUP", "TALKRESULT"] } },
      { "data.body.hangupReason": { $gte: 2, $lte: "12" }, type: "airudder.pds.contact_status" },
      { "data.body.recLink": { $exists: true }, "data.body.remark": null, "data.body.nthCall": 1, "data.flag": false },
      { $or: [{ "data.transfer_status": "2" }, { $or: [{ "data.body.State": { $neq: "CALLING" } }] }] },
    ]) {
      expect(payloadFilterSchema.safeParse(f).success, JSON.stringify(f)).toBe(true);
    }
  });

  it.each([
    ["an empty filter", {}],
    ["an array", [{ "data.transfer_status": "2" }]],
    ["a string", "data.transfer_status=2"],
    ["null", null],
    ["an unknown operator", { "data.transfer_status": { $regex: "^2" } }],
    ["an empty operator object", { "data.transfer_status": {} }],
    ["an operator next to a plain key", { "data.x": { $eq: 1, other: 2 } }],
    ["an array value", { "data.transfer_status": ["2"] }],
    ["a nested object value", { "data.body": { State: "HANGUP" } }],
    ["an empty path segment", { "data..State": "HANGUP" }],
    ["a path with spaces", { "data.body State": "HANGUP" }],
    ["a top-level operator other than $or", { $and: [{ "data.transfer_status": "2" }] }],
    ["an empty $or", { $or: [] }],
    ["$or that is not a list", { $or: { "data.transfer_status": "2" } }],
    ["a malformed filter inside $or", { $or: [{ "data.x": { $like: "a" } }] }],
    ["an empty $in", { "data.body.State": { $in: [] } }],
    ["$in that is not a list", { "data.body.State": { $in: "HANGUP" } }],
    ["$in holding objects", { "data.body.State": { $in: [{ a: 1 }] } }],
    ["$exists that is not a boolean", { "data.body.State": { $exists: "yes" } }],
    ["$gte that is not a number or string", { "data.n": { $gte: null } }],
    ["too many conditions", Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`data.f${i}`, i]))],
    ["too many alternatives", { $or: Array.from({ length: 21 }, (_, i) => ({ "data.n": i })) }],
  ])("refuses %s", (_, f) => {
    expect(payloadFilterSchema.safeParse(f).success).toBe(false);
  });

  it("names the offending key in its issues", () => {
    const r = payloadFilterSchema.safeParse({ "data.ok": 1, "data.bad": { $regex: "x" } });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join("."))).toContain("data.bad");
  });
});
