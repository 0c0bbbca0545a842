import type { ClaimedDelivery, DeliveryStatus } from "../db/deliveries";
import type { DestinationRow } from "../db/destinations";
import type { AttemptTrigger } from "../db/stats";
import { config, type Env } from "../env";
import { refuseDestination } from "./destination-policy";
import { buildRequest } from "./message";
import { postOnce, type AttemptResult } from "./post";
import { nextAttemptAt, parseRetryAfter } from "./schedule";

/** One attempt and what it means for its delivery. */
export interface Outcome {
  delivery: ClaimedDelivery;
  result: AttemptResult;
  /** When this attempt ended (it may be recorded later, with others). */
  endedAt: number;
  status: Exclude<DeliveryStatus, "pending">;
  nextAttemptAt: number | null;
  scheduleStep: number;
  gone: boolean;
  trigger: AttemptTrigger;
}

/** A first attempt, an automatic retry, or one an operator asked for (retry, recover, replay, release after a 410 reset the step). */
function triggerOf(d: ClaimedDelivery): AttemptTrigger {
  if (d.attempt_count === 0) return "first";
  return d.schedule_step === 0 ? "operator" : "retry";
}

function classify(
  delivery: ClaimedDelivery,
  result: AttemptResult,
  schedule: readonly number[],
  now: number,
): Omit<Outcome, "delivery" | "result" | "endedAt" | "trigger"> {
  const code = result.statusCode;
  if (code !== null && code >= 200 && code < 300) {
    return { status: "delivered", nextAttemptAt: null, scheduleStep: delivery.schedule_step, gone: false };
  }
  if (code === 410) {
    return { status: "held", nextAttemptAt: null, scheduleStep: delivery.schedule_step, gone: true };
  }
  const retryAfter = code === 429 || code === 503 ? parseRetryAfter(result.retryAfter, now) : null;
  const next = nextAttemptAt(schedule, delivery.schedule_step, now, retryAfter);
  return next === null
    ? { status: "dead", nextAttemptAt: null, scheduleStep: delivery.schedule_step, gone: false }
    : { status: "failed", nextAttemptAt: next, scheduleStep: delivery.schedule_step + 1, gone: false };
}

const refused = (error: string): AttemptResult => ({
  statusCode: null,
  durationMs: 0,
  error,
  responseBody: null,
  retryAfter: null,
});

/**
 * Waits, with the request built, for the moment it may be sent; false when it
 * must not go (its rate-limit slot was missed and the turn has none left).
 */
export type SendGate = () => Promise<boolean>;

async function attemptOne(
  env: Env,
  delivery: ClaimedDelivery,
  dest: DestinationRow | undefined,
  gate: SendGate | undefined,
): Promise<{ result: AttemptResult; permanent: boolean } | null> {
  const cfg = config(env);
  if (!dest) return { result: refused("destination was removed"), permanent: true };
  if (delivery.payload === null) return { result: refused("event payload was purged or erased"), permanent: true };
  const refusal = refuseDestination(dest.url, cfg.ALLOW_INSECURE_DESTINATIONS);
  if (refusal) return { result: refused(`destination refused: ${refusal}`), permanent: true };
  const now = Date.now();
  let request: Awaited<ReturnType<typeof buildRequest>>;
  try {
    request = await buildRequest(
      dest,
      {
        id: delivery.event_id,
        type: delivery.event_type,
        tenant: delivery.tenant_id,
        received_at: delivery.received_at,
        seq: delivery.seq,
        payload: delivery.payload,
      },
      env,
      now,
    );
  } catch (err) {
    // Typically a secret or header sealed under a key this Worker no longer has:
    // a failed attempt like any other, so it is retried, dies and alerts.
    return { result: refused(`could not prepare the request: ${err instanceof Error ? err.message : String(err)}`), permanent: false };
  }
  if (gate && !(await gate())) return null;
  return { result: await postOnce(dest.url, request.headers, request.body, cfg.DELIVERY_TIMEOUT_MS), permanent: false };
}

/**
 * Makes one attempt (unless the delivery can no longer be made) and judges
 * the answer. With a gate, null when the gate kept the request back.
 */
export async function attemptToOutcome(env: Env, delivery: ClaimedDelivery, destinations: ReadonlyMap<string, DestinationRow>): Promise<Outcome>;
export async function attemptToOutcome(
  env: Env,
  delivery: ClaimedDelivery,
  destinations: ReadonlyMap<string, DestinationRow>,
  gate: SendGate,
): Promise<Outcome | null>;
export async function attemptToOutcome(
  env: Env,
  delivery: ClaimedDelivery,
  destinations: ReadonlyMap<string, DestinationRow>,
  gate?: SendGate,
): Promise<Outcome | null> {
  const attempted = await attemptOne(env, delivery, destinations.get(delivery.destination_id), gate);
  if (attempted === null) return null;
  const { result, permanent } = attempted;
  const now = Date.now();
  const verdict = permanent
    ? { status: "dead" as const, nextAttemptAt: null, scheduleStep: delivery.schedule_step, gone: false }
    : classify(delivery, result, config(env).RETRY_SCHEDULE, now);
  return { delivery, result, endedAt: now, trigger: triggerOf(delivery), ...verdict };
}

