import {
  disableDestination,
  deferClaimed,
  disableFailingDestination,
  finishAttempt,
  insertAttempt,
  recordDestinationOutcome,
  type ClaimedDelivery,
  type DeliveryStatus,
  type DestinationRow,
} from "../db/queries";
import { config, type Env } from "../env";
import type { DeliveryMessage } from "../queue-messages";
import { sendAlert } from "./alerts";
import { refuseDestination } from "./destination-policy";
import { buildRequest } from "./message";
import { postOnce, type AttemptResult } from "./post";
import { nextAttemptAt, parseRetryAfter } from "./schedule";

/** A Queue message can be delayed by at most 12 hours; longer waits are chained. */
export const MAX_QUEUE_DELAY_SECONDS = 12 * 3600;

/** How long a claim outlives the attempt's own timeout before the sweep may take it over. */
export const LEASE_MARGIN_MS = 60_000;

export const leaseMs = (env: Env) => config(env).DELIVERY_TIMEOUT_MS + LEASE_MARGIN_MS;

interface Outcome {
  delivery: ClaimedDelivery;
  result: AttemptResult;
  /** When this attempt ended: the batch's outcomes are only written once its slowest attempt ends. */
  endedAt: number;
  status: DeliveryStatus;
  nextAttemptAt: number | null;
  scheduleStep: number;
  gone: boolean;
}

function classify(
  delivery: ClaimedDelivery,
  result: AttemptResult,
  schedule: readonly number[],
  now: number,
): Omit<Outcome, "delivery" | "result" | "endedAt"> {
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

async function attemptOne(
  env: Env,
  delivery: ClaimedDelivery,
  dest: DestinationRow | undefined,
): Promise<{ result: AttemptResult; permanent: boolean }> {
  const cfg = config(env);
  if (!dest) return { result: refused("destination was removed"), permanent: true };
  if (delivery.payload === null) return { result: refused("event payload was purged or erased"), permanent: true };
  const refusal = refuseDestination(dest.url, cfg.ALLOW_INSECURE_DESTINATIONS);
  if (refusal) return { result: refused(`destination refused: ${refusal}`), permanent: true };
  const now = Date.now();
  const { body, headers } = await buildRequest(
    dest,
    {
      id: delivery.event_id,
      type: delivery.event_type,
      tenant: delivery.tenant_id,
      received_at: delivery.received_at,
      seq: delivery.seq,
      payload: delivery.payload,
    },
    env.ENCRYPTION_KEY,
    now,
  );
  return { result: await postOnce(dest.url, headers, body, cfg.DELIVERY_TIMEOUT_MS), permanent: false };
}

/**
 * How long a batch waits for its attempts before recording those that have
 * ended. Healthy CRMs answer well within it, so a batch is normally recorded
 * with one D1 round trip; a hung CRM delays only its own record, not the
 * others' (which would otherwise look pending, and be re-sent by the sweep
 * if the invocation died, until the hung attempt timed out).
 */
export const RECORD_TOGETHER_MS = 2000;

/** The values that settle within `ms`, and the promises of the rest. */
async function settledWithin<T>(promises: readonly Promise<T>[], ms: number): Promise<{ done: T[]; late: Promise<T>[] }> {
  const values = new Map<number, T>();
  const tracked = promises.map((p, i) => p.then((v) => void values.set(i, v)));
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([Promise.all(tracked), new Promise((r) => (timer = setTimeout(r, ms)))]);
  if (timer !== undefined) clearTimeout(timer);
  return {
    done: [...values.values()],
    late: promises.filter((_, i) => !values.has(i)),
  };
}

/** Answers in a row that say "this destination is down" before its turn in a batch ends. */
export const DOWN_IN_A_ROW_ENDS_TURN = 3;

/** How soon the rest of a turn ended by a 410 is looked at again (they will be held). */
export const DEFER_AFTER_GONE_MS = 5000;

/** No answer, a timeout, a 5xx, 408 or 429: the destination, not this payload, is the problem. */
function saysDown(o: Outcome): boolean {
  const code = o.result.statusCode;
  return code === null || code >= 500 || code === 408 || code === 429;
}

async function attemptToOutcome(
  env: Env,
  delivery: ClaimedDelivery,
  destinations: ReadonlyMap<string, DestinationRow>,
): Promise<Outcome> {
  const { result, permanent } = await attemptOne(env, delivery, destinations.get(delivery.destination_id));
  const now = Date.now();
  const verdict = permanent
    ? { status: "dead" as const, nextAttemptAt: null, scheduleStep: delivery.schedule_step, gone: false }
    : classify(delivery, result, config(env).RETRY_SCHEDULE, now);
  return { delivery, result, endedAt: now, ...verdict };
}

/**
 * New events (the callbacks consumer): one attempt for each claimed delivery,
 * all in parallel, recorded together. Only healthy destinations get these.
 */
export async function attemptInParallel(
  env: Env,
  ctx: ExecutionContext,
  owner: string,
  claimed: readonly ClaimedDelivery[],
  destinations: ReadonlyMap<string, DestinationRow>,
): Promise<void> {
  if (claimed.length === 0) return;
  const attempts = claimed.map((d) => attemptToOutcome(env, d, destinations));
  const { done, late } = await settledWithin(attempts, RECORD_TOGETHER_MS);
  await recordOutcomes(env, ctx, owner, done, destinations);
  await Promise.all(late.map(async (p) => recordOutcomes(env, ctx, owner, [await p], destinations)));
}

/**
 * Retries, releases and recoveries (the deliveries consumer): destinations in
 * parallel, each destination's deliveries one after another in the order
 * their events were received, so a released backlog arrives in order. A
 * failure of one payload (a 4xx) does not hold up the others. Three "down"
 * answers in a row (no answer, timeout, 5xx, 429) end that destination's
 * turn: the rest are handed back unattempted (no retry step spent) for when
 * the last failure says to try again, so a down or hung CRM costs three
 * timeouts per batch, never one per delivery. A 410 ends the turn at once.
 */
export async function attemptInOrder(
  env: Env,
  ctx: ExecutionContext,
  owner: string,
  claimed: readonly ClaimedDelivery[],
  destinations: ReadonlyMap<string, DestinationRow>,
): Promise<void> {
  const byDestination = new Map<string, ClaimedDelivery[]>();
  for (const d of claimed) byDestination.set(d.destination_id, [...(byDestination.get(d.destination_id) ?? []), d]);
  await Promise.all(
    [...byDestination.values()].map(async (group) => {
      group.sort((a, b) => a.received_at - b.received_at || (a.seq ?? 0) - (b.seq ?? 0) || a.event_id.localeCompare(b.event_id));
      let downInARow = 0;
      for (let i = 0; i < group.length; i++) {
        const outcome = await attemptToOutcome(env, group[i]!, destinations);
        await recordOutcomes(env, ctx, owner, [outcome], destinations);
        if (outcome.status === "delivered") downInARow = 0;
        else if (saysDown(outcome)) downInARow++;
        const rest = group.slice(i + 1);
        if (outcome.gone) return deferUnattempted(env, owner, rest, Date.now() + DEFER_AFTER_GONE_MS);
        if (downInARow >= DOWN_IN_A_ROW_ENDS_TURN) {
          return deferUnattempted(env, owner, rest, outcome.nextAttemptAt ?? Date.now() + DEFER_AFTER_GONE_MS);
        }
      }
    }),
  );
}

async function deferUnattempted(env: Env, owner: string, rest: readonly ClaimedDelivery[], at: number): Promise<void> {
  if (rest.length === 0) return;
  await env.DB.batch(rest.map((d) => deferClaimed(env.DB, d.id, owner, at)));
  await scheduleRetries(env, rest.map((d) => ({ id: d.id, at })), Date.now());
}

/** Writes a group of outcomes in one D1 batch, then alerts and schedules their retries. */
async function recordOutcomes(
  env: Env,
  ctx: ExecutionContext,
  owner: string,
  outcomes: readonly Outcome[],
  destinations: ReadonlyMap<string, DestinationRow>,
): Promise<void> {
  if (outcomes.length === 0) return;
  const now = Date.now();
  const statements: D1PreparedStatement[] = [];
  const health = new Map<string, { succeeded: boolean; failures: number; deads: number }>();
  const gone = new Set<string>();
  for (const o of outcomes) {
    statements.push(
      insertAttempt(env.DB, {
        delivery_id: o.delivery.id,
        at: o.endedAt - o.result.durationMs,
        status_code: o.result.statusCode,
        duration_ms: o.result.durationMs,
        error: o.result.error,
        response_body: o.result.responseBody,
      }),
      finishAttempt(
        env.DB,
        {
          id: o.delivery.id,
          owner,
          status: o.status,
          status_code: o.result.statusCode,
          next_attempt_at: o.nextAttemptAt,
          schedule_step: o.scheduleStep,
        },
        now,
      ),
    );
    const h = health.get(o.delivery.destination_id) ?? { succeeded: false, failures: 0, deads: 0 };
    if (o.status === "delivered") h.succeeded = true;
    else if (o.status === "failed") h.failures++;
    else if (o.status === "dead") h.deads++;
    health.set(o.delivery.destination_id, h);
    if (o.gone) gone.add(o.delivery.destination_id);
  }
  for (const [id, h] of health) {
    if (destinations.has(id)) statements.push(recordDestinationOutcome(env.DB, id, h, now));
  }
  const goneAt = new Date(now).toISOString();
  const goneStatements = [...gone].map((id) =>
    disableDestination(env.DB, id, `destination answered 410 Gone at ${goneAt}`, now),
  );
  const results = await env.DB.batch([...statements, ...goneStatements]);

  const alerts: Promise<void>[] = [];
  for (const r of results.slice(statements.length)) {
    for (const row of r.results as { id: string; tenant_id: string }[]) {
      alerts.push(
        sendAlert(env, "relay.destination.disabled", {
          destination_id: row.id,
          tenant: row.tenant_id,
          reason: "410 Gone",
        }),
      );
    }
  }
  for (const o of outcomes.filter((x) => x.status === "dead")) {
    alerts.push(
      sendAlert(env, "relay.delivery.dead", {
        delivery_id: o.delivery.id,
        event_id: o.delivery.event_id,
        destination_id: o.delivery.destination_id,
        last_status_code: o.result.statusCode,
        error: o.result.error,
      }),
    );
  }
  for (const [id, h] of health) {
    if (!h.succeeded && destinations.has(id) && !gone.has(id)) alerts.push(autoDisable(env, id, now));
  }
  ctx.waitUntil(Promise.allSettled(alerts));

  await scheduleRetries(
    env,
    outcomes.filter((o) => o.status === "failed").map((o) => ({ id: o.delivery.id, at: o.nextAttemptAt! })),
    now,
  );
}

/** Pauses a destination that has failed without a single success for too long, and says so. */
async function autoDisable(env: Env, destinationId: string, now: number): Promise<void> {
  const cfg = config(env);
  const row = await disableFailingDestination(
    env.DB,
    destinationId,
    now - cfg.DISABLE_AFTER_FAILING_SECONDS * 1000,
    cfg.DISABLE_AFTER_DEAD_DELIVERIES,
    `paused after failing continuously (no success for ${cfg.DISABLE_AFTER_FAILING_SECONDS} s or ${cfg.DISABLE_AFTER_DEAD_DELIVERIES} dead deliveries in a row)`,
    now,
  );
  if (row) {
    await sendAlert(env, "relay.destination.disabled", {
      destination_id: row.id,
      tenant: row.tenant_id,
      reason: "failing continuously",
    });
  }
}

/**
 * Puts deliveries back on the queue for their next attempt. A failed send is
 * logged, not thrown: the delivery is already recorded as due in D1, and the
 * sweep re-enqueues what is overdue.
 */
export async function scheduleRetries(env: Env, due: readonly { id: string; at: number }[], now: number): Promise<void> {
  for (let i = 0; i < due.length; i += 100) {
    const chunk = due.slice(i, i + 100);
    try {
      await env.DELIVERIES_QUEUE.sendBatch(
        chunk.map((d) => ({
          body: { t: "delivery", delivery_id: d.id } satisfies DeliveryMessage,
          contentType: "json" as const,
          delaySeconds: Math.min(MAX_QUEUE_DELAY_SECONDS, Math.max(0, Math.ceil((d.at - now) / 1000))),
        })),
      );
    } catch (err) {
      console.error(JSON.stringify({ level: "error", msg: "retry enqueue failed; the sweep will pick these up", count: chunk.length, error: String(err) }));
    }
  }
}
