import type { z } from "@hono/zod-openapi";
import { epochMsToIso, field, maskPhone, noColumns, utcTimeToIso, type EventColumns } from "./columns";
import { inboundCallEndSchema, inboundIdentity, inboundTransferSchema } from "./inbound";
import { jsonObject, text, type Variant } from "./lenient";
import { pdsVariant } from "./pds";
import { qaIdentity, qaReportSchema } from "./qa";
import { workflowIdentity, workflowSchema } from "./workflow";

type Payload = Record<string, unknown>;

export interface Family {
  /** How the family is stored and listed (the URL kind, or `generic`). */
  kind: string;
  /** The schemas and event type for this payload (PDS picks them by `type`). */
  variant(payload: Payload): Variant;
  columns(payload: Payload): EventColumns;
}

const fixed = (schema: z.ZodType, identity: z.ZodType, event: string) => {
  const variant: Variant = { schema, identity, event };
  return () => variant;
};

function inboundColumns(p: Payload): EventColumns {
  return {
    ...noColumns,
    callid: text(p.callid),
    state: text(p.transfer_status) ?? text(p.call_hangup_type),
    phone_masked: maskPhone(p.caller_number),
    call_time: utcTimeToIso(p.call_start_time),
  };
}

function pdsColumns(p: Payload): EventColumns {
  const body = p.body;
  return {
    callid: text(field(body, "callid")),
    task_id: text(field(body, "taskId")),
    state: text(field(body, "State")) ?? text(field(body, "state")),
    agent: text(field(body, "agentName")),
    phone_masked: maskPhone(field(body, "phoneNumber")),
    call_time: epochMsToIso(field(body, "timestamp")),
  };
}

export const families = {
  "inbound-transfer": {
    kind: "inbound-transfer",
    variant: fixed(inboundTransferSchema, inboundIdentity, "airudder.inbound.transfer"),
    columns: inboundColumns,
  },
  "inbound-call-end": {
    kind: "inbound-call-end",
    variant: fixed(inboundCallEndSchema, inboundIdentity, "airudder.inbound.call_end"),
    columns: inboundColumns,
  },
  pds: { kind: "pds", variant: pdsVariant, columns: pdsColumns },
  "qa-report": {
    kind: "qa-report",
    variant: fixed(qaReportSchema, qaIdentity, "airudder.qa.report"),
    columns: (p) => ({ ...noColumns, task_id: text(p.TaskID) }),
  },
  workflow: {
    kind: "workflow",
    variant: fixed(workflowSchema, workflowIdentity, "airudder.workflow.status"),
    columns: (p) => ({ ...noColumns, task_id: text(p.workflow_id), state: text(p.status) }),
  },
  generic: {
    kind: "generic",
    variant: fixed(jsonObject, jsonObject, "airudder.generic"),
    columns: (p) => ({ ...noColumns, callid: text(p.callid) }),
  },
} satisfies Record<string, Family>;

export type FamilyKind = keyof typeof families;

const inboundMarkers = ["transfer_status", "asr_result", "robot_id", "call_start_time"];

/**
 * The `any` kind: the family from the body's shape (CALLBACKS.md). A URL kind
 * is better evidence, so this only serves URLs shared by several families.
 */
export function detectFamily(p: Payload): Family {
  const body = p.body;
  if (typeof p.type === "string" && typeof body === "object" && body !== null && !Array.isArray(body)) {
    return families.pds;
  }
  if ("TaskID" in p && "Sign" in p) return families["qa-report"];
  if ("workflow_id" in p) return families.workflow;
  if ("callid" in p && inboundMarkers.some((k) => k in p)) {
    return text(p.transfer_status) ? families["inbound-transfer"] : families["inbound-call-end"];
  }
  return families.generic;
}

/** The kinds a callback URL may name. */
export const urlKinds = ["inbound-transfer", "inbound-call-end", "pds", "qa-report", "workflow", "any"] as const;
export type UrlKind = (typeof urlKinds)[number];

export function familyFor(kind: UrlKind, payload: Payload): Family {
  return kind === "any" ? detectFamily(payload) : families[kind];
}

export const eventTypes = [
  "airudder.inbound.transfer",
  "airudder.inbound.call_end",
  "airudder.pds.agent_status",
  "airudder.pds.contact_status",
  "airudder.pds.task_status",
  "airudder.pds.unknown",
  "airudder.qa.report",
  "airudder.workflow.status",
  "airudder.generic",
] as const;
