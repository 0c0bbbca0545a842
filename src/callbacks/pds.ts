import { z } from "@hono/zod-openapi";
import { anyObject, identity, list, looseObject, scalar } from "./lenient";

const counters = z.union([z.looseObject({ auto: scalar, manual: scalar }), z.literal(""), z.null()]).optional();

const commonFields = {
  agentName: scalar,
  registerState: scalar,
  callType: scalar,
  taskId: scalar,
  taskName: scalar,
  groupName: scalar,
  phoneNumber: scalar,
  mainNumber: scalar,
  phoneTag: scalar,
  contactName: scalar,
  address: scalar,
  info1: scalar,
  info2: scalar,
  info3: scalar,
  remark: scalar,
  privateData: scalar,
  timestamp: scalar,
  talkResultLabel: scalar,
  talkremarks: scalar,
  curDayCallCount: counters,
  curDayCallDuration: counters,
  holdDuration: counters,
  curDayTalkResults: list(anyObject),
  customizeResults: looseObject,
  customerInfo: looseObject,
  recLink: scalar,
  nthCall: scalar,
  hangupReason: scalar,
};

/** A non-empty object: AiRudder's `{}` body carries nothing to identify or forward. */
const nonEmpty = <T extends z.ZodType>(schema: T) =>
  schema.refine((v) => typeof v === "object" && v !== null && Object.keys(v).length > 0, {
    message: "body must not be empty",
  });

export const pdsAgentStatusBody = z.looseObject({ ...commonFields, callid: identity, State: scalar });
export const pdsContactStatusBody = z.looseObject({ ...commonFields, callid: identity, state: scalar });
export const pdsTaskStatusBody = z.looseObject({ taskId: identity, state: scalar, taskName: scalar });

const envelope = <T extends z.ZodType>(type: z.ZodType, body: T) =>
  z.looseObject({ type, body: nonEmpty(body) });

export const pdsAgentStatusSchema = envelope(z.literal("AgentStatus"), pdsAgentStatusBody).openapi("PdsAgentStatus");
export const pdsContactStatusSchema = envelope(z.literal("ContactStatus"), pdsContactStatusBody).openapi("PdsContactStatus");
export const pdsTaskStatusSchema = envelope(z.literal("TaskStatus"), pdsTaskStatusBody).openapi("PdsTaskStatus");
export const pdsUnknownSchema = envelope(z.string().min(1), anyObject).openapi("PdsUnknown");

const pdsByType: Record<string, { schema: z.ZodType; event: string }> = {
  AgentStatus: { schema: pdsAgentStatusSchema, event: "airudder.pds.agent_status" },
  ContactStatus: { schema: pdsContactStatusSchema, event: "airudder.pds.contact_status" },
  TaskStatus: { schema: pdsTaskStatusSchema, event: "airudder.pds.task_status" },
};

/**
 * Predictive dialer: `{type, body}`. A known `type` is checked against its own
 * body schema (so an issue names the missing field, not "no union member
 * matched"); any other type with a non-empty object body is kept as
 * `airudder.pds.unknown`, so that AiRudder stops retrying and the customer
 * decides.
 */
export function pdsVariant(payload: Record<string, unknown>): { schema: z.ZodType; event: string } {
  const type = payload.type;
  if (typeof type === "string" && Object.hasOwn(pdsByType, type)) return pdsByType[type]!;
  return { schema: pdsUnknownSchema, event: "airudder.pds.unknown" };
}

export const pdsSchema = z
  .union([pdsAgentStatusSchema, pdsContactStatusSchema, pdsTaskStatusSchema, pdsUnknownSchema])
  .openapi("PdsCallback");
