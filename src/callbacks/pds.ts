import { z } from "@hono/zod-openapi";
import { identity, int, jsonObject, str, usually, type Variant } from "./lenient";

const counters = usually(z.looseObject({ auto: int, manual: int }));

const commonFields = {
  agentName: str,
  registerState: str,
  callType: str,
  taskId: str,
  taskName: str,
  groupName: str,
  /** E.164, or `""`. */
  phoneNumber: str,
  mainNumber: str,
  phoneTag: str,
  contactName: str,
  address: str,
  info1: str,
  info2: str,
  info3: str,
  remark: str,
  privateData: usually(z.unknown()),
  /** Epoch milliseconds, usually as a string; `""` and null occur. */
  timestamp: usually(z.string()),
  /** A label the tenant defines: any string. */
  talkResultLabel: str,
  talkremarks: str,
  curDayCallCount: counters,
  curDayCallDuration: counters,
  holdDuration: counters,
  curDayTalkResults: usually(z.array(z.looseObject({ talkResult: str, count: int }))),
  curDayOnlineDuration: int,
  waitingDialNumber: int,
  /** The tenant's own form; one key may arrive as `Nopaymentreason`, `nopaymentreason` or `no_payment_reason`. */
  customizeResults: usually(z.record(z.string(), z.string())),
  /** All values strings; the literal `"None"` occurs. */
  customerInfo: usually(z.record(z.string(), z.string())),
  recLink: str,
  nthCall: int,
  /** An int code (12 Talked, 3 Busy, …), sometimes as a numeric string. */
  hangupReason: int,
};

// What can refuse each body: its identity. The documented bodies extend these with fields that accept any value.
const callIdentity = z.looseObject({ callid: identity });
const taskIdentity = z.looseObject({ taskId: identity });

const pdsAgentStatusBody = callIdentity.extend({
  ...commonFields,
  State: usually(z.enum(["CALLING", "RINGING", "ANSWERED", "HANGUP", "TALKRESULT"])),
});
const pdsContactStatusBody = callIdentity.extend({ ...commonFields, state: str });
const pdsTaskStatusBody = taskIdentity.extend({ state: str, taskName: str });

/** `{}` carries nothing to identify or forward, so it is refused like a missing body. */
const nonEmpty = <T extends z.ZodType>(schema: T) =>
  schema.refine((v) => typeof v === "object" && v !== null && Object.keys(v).length > 0, {
    message: "must not be empty",
  });

const bare = <T extends z.ZodType>(type: z.ZodType, body: T) => z.looseObject({ type, body: nonEmpty(body) });
const envelope = <T extends z.ZodType>(name: string, type: z.ZodType, body: T, description: string) =>
  bare(type, body).openapi(name, { description });

const lenientNote = " Every other field is optional and any value is accepted there.";

export const pdsAgentStatusSchema = envelope(
  "PdsAgentStatus",
  z.literal("AgentStatus"),
  pdsAgentStatusBody,
  "Agent status change. Identity: `body.callid`; the state is in `body.State`." + lenientNote,
);
export const pdsContactStatusSchema = envelope(
  "PdsContactStatus",
  z.literal("ContactStatus"),
  pdsContactStatusBody,
  "Contact status change. Identity: `body.callid`; the state is in `body.state`." + lenientNote,
);
export const pdsTaskStatusSchema = envelope(
  "PdsTaskStatus",
  z.literal("TaskStatus"),
  pdsTaskStatusBody,
  "Task status change. Identity: `body.taskId`." + lenientNote,
);
export const pdsUnknownSchema = envelope(
  "PdsUnknown",
  z.string({ error: (issue) => (issue.input === undefined ? "required" : "must be a string") }).min(1, "must not be empty"),
  jsonObject,
  "Any other `type` with a non-empty object `body`, accepted as airudder.pds.unknown.",
);

const pdsByType: Record<string, Variant> = {
  AgentStatus: {
    schema: pdsAgentStatusSchema,
    identity: bare(z.literal("AgentStatus"), callIdentity),
    event: "airudder.pds.agent_status",
  },
  ContactStatus: {
    schema: pdsContactStatusSchema,
    identity: bare(z.literal("ContactStatus"), callIdentity),
    event: "airudder.pds.contact_status",
  },
  TaskStatus: {
    schema: pdsTaskStatusSchema,
    identity: bare(z.literal("TaskStatus"), taskIdentity),
    event: "airudder.pds.task_status",
  },
};
const unknownType: Variant = { schema: pdsUnknownSchema, identity: pdsUnknownSchema, event: "airudder.pds.unknown" };

/**
 * Predictive dialer: `{type, body}`. A known `type` is checked against its own
 * body schema (so an issue names the missing field, not "no union member
 * matched"); any other type with a non-empty object body is kept as
 * `airudder.pds.unknown`, so that AiRudder stops retrying and the customer
 * decides.
 */
export function pdsVariant(payload: Record<string, unknown>): Variant {
  const type = payload.type;
  if (typeof type === "string" && Object.hasOwn(pdsByType, type)) return pdsByType[type]!;
  return unknownType;
}

export const pdsSchema = z
  .union([pdsAgentStatusSchema, pdsContactStatusSchema, pdsTaskStatusSchema, pdsUnknownSchema])
  .openapi("PdsCallback");
