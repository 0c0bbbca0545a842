import { z } from "@hono/zod-openapi";
import { identity, int, str, usually } from "./lenient";

/**
 * What can refuse an inbound callback: its identity, `callid`. Ingest
 * validates with this alone; the documented schemas below extend it with
 * fields that accept any value, so they refuse exactly what it refuses.
 */
export const inboundIdentity = z.looseObject({ callid: identity });

const inboundFields = {
  caller_number: str,
  callee_number: str,
  robot_id: str,
  robot_name: str,
  /** `YYYY-MM-DD HH:MM:SS` in UTC, or `""`. */
  call_start_time: str,
  call_end_time_robot: str,
  call_end_time: str,
  intention: str,
  slots: usually(z.array(z.looseObject({}))),
  event_label: usually(z.looseObject({})),
  duration: str,
  duration_robot: int,
  talkround: int,
  valid_talkround: int,
  call_hangup_type: usually(z.enum(["ByUser", "ByRobot", "ByAgent", ""])),
  /** The conversation, one `"Robot: …"` or `"Human: …"` line each. */
  asr_result: usually(z.array(z.string())),
  step_intention: usually(z.array(z.looseObject({ newState: str, intention: str }))),
};

const described = "Identity: `callid`. Every other field is optional and any value is accepted there.";

/** Inbound bot, call ended without (or before) a transfer. Identity: `callid`. */
export const inboundCallEndSchema = inboundIdentity
  .extend(inboundFields)
  .openapi("InboundCallEnd", { description: described });

/** Inbound bot, transferred to a human agent. Identity: `callid`. */
export const inboundTransferSchema = inboundIdentity
  .extend({
    ...inboundFields,
    /** Only `"2"` (success) is documented; `""` occurs. */
    transfer_status: str,
    transfer_failure_reason: str,
    transfer_time: str,
    transfer_ring_time: str,
    transfer_success_time: str,
    transfer_strategy: str,
    transfer_reason: str,
    transfer_call_id: str,
  })
  .openapi("InboundTransfer", { description: described });
