import type { eventTypes } from "../callbacks/families";
import { randomToken } from "../crypto/hash";
import type { DestinationRow } from "../db/destinations";
import { config, type Env } from "../env";
import { refuseDestination } from "./destination-policy";
import { buildRequest } from "./message";
import { postOnce } from "./post";

export type EventType = (typeof eventTypes)[number];

/*
 * One small, obviously fake AiRudder body per event type: enough for a CRM
 * team to see the shape and check the signature. The numbers are not real
 * phones (0800000000 is a reserved-looking placeholder).
 */
const samples: Record<EventType, object> = {
  "airudder.inbound.transfer": {
    callid: "test0000000000000000000000000001",
    caller_number: "0800000000",
    callee_number: "+6620000000",
    robot_id: "1",
    robot_name: "test robot",
    call_start_time: "2024-02-01 10:02:14",
    transfer_status: "2",
    transfer_time: "2024-02-01 10:03:01",
    intention: "R",
    asr_result: ["Robot: Hello, this is a test call from airudder-relay.", "Human: Hi, is it working?", "Robot: It is. Transferring you now."],
  },
  "airudder.inbound.call_end": {
    callid: "test0000000000000000000000000002",
    caller_number: "0800000000",
    call_start_time: "2024-02-01 10:02:14",
    call_end_time: "2024-02-01 10:03:40",
    call_hangup_type: "customer",
    asr_result: ["Robot: Hello, this is a test call from airudder-relay.", "Human: Thank you, goodbye."],
  },
  "airudder.pds.agent_status": { type: "AgentStatus", body: { agentName: "test-agent", State: "IDLE", timestamp: "1706781734000" } },
  "airudder.pds.contact_status": {
    type: "ContactStatus",
    body: { callid: "test-contact-0001", taskId: "T-test-0001", phoneNumber: "0800000000", State: "TALKRESULT", timestamp: "1706781734000" },
  },
  "airudder.pds.task_status": { type: "TaskStatus", body: { taskId: "T-test-0001", state: "Finished", timestamp: "1706781734000" } },
  "airudder.pds.unknown": { type: "TestOnly", body: { note: "a PDS callback type the relay does not know yet" } },
  "airudder.qa.report": {
    TaskID: "QA-test-0001",
    Sign: "6125d8e86873a3326dd783e0afc34c20",
    QADetail: [{ Recordingid: "rec_test_0001", Scores: [{ CheckPointType: "SOP", Channel: "1", Score: "2/2" }] }],
  },
  "airudder.workflow.status": { workflow_id: "wf_test_0001", status: "completed" },
  "airudder.generic": { note: "a test event from airudder-relay" },
};

export interface TestAttempt {
  event_id: string;
  type: EventType;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  response_body: string | null;
}

/**
 * Sends a signed sample of `type` to the destination now, as a delivery
 * would be sent (its format, headers and signing secrets), whether or not
 * it is paused: the operator asked for exactly this. Nothing is stored and
 * nothing is retried; the event id is new each time (`evt_test_…`) so a
 * receiver's de-duplication never swallows it.
 */
export async function sendTestEvent(env: Env, dest: DestinationRow, type: EventType): Promise<TestAttempt> {
  const id = randomToken("evt_test_", 12);
  const refusal = refuseDestination(dest.url, config(env).ALLOW_INSECURE_DESTINATIONS);
  if (refusal) return { event_id: id, type, status_code: null, duration_ms: 0, error: `destination refused: ${refusal}`, response_body: null };
  const now = Date.now();
  const request = await buildRequest(dest, { id, type, tenant: dest.tenant_id, received_at: now, seq: null, payload: JSON.stringify(samples[type]) }, env, now);
  const result = await postOnce(dest.url, request.headers, request.body, config(env).DELIVERY_TIMEOUT_MS);
  return { event_id: id, type, status_code: result.statusCode, duration_ms: result.durationMs, error: result.error, response_body: result.responseBody };
}
