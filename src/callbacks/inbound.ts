import { z } from "@hono/zod-openapi";
import { anyJson, anyObject, identity, list, scalar } from "./lenient";

const inboundFields = {
  callid: identity,
  caller_number: scalar,
  callee_number: scalar,
  robot_id: scalar,
  robot_name: scalar,
  call_start_time: scalar,
  call_end_time_robot: scalar,
  call_end_time: scalar,
  intention: scalar,
  slots: anyJson,
  event_label: anyJson,
  duration: scalar,
  duration_robot: scalar,
  talkround: scalar,
  valid_talkround: scalar,
  call_hangup_type: scalar,
  asr_result: list(z.union([z.string(), z.number()])),
  step_intention: list(anyObject),
};

/** Inbound bot, call ended without (or before) a transfer. Identity: `callid`. */
export const inboundCallEndSchema = z.looseObject(inboundFields).openapi("InboundCallEnd");

/** Inbound bot, transferred to a human agent. Identity: `callid`. */
export const inboundTransferSchema = z
  .looseObject({
    ...inboundFields,
    transfer_status: scalar,
    transfer_failure_reason: scalar,
    transfer_time: scalar,
    transfer_ring_time: scalar,
    transfer_success_time: scalar,
    transfer_strategy: scalar,
    transfer_reason: scalar,
    transfer_call_id: scalar,
  })
  .openapi("InboundTransfer");

export type InboundCallback = z.infer<typeof inboundTransferSchema>;
