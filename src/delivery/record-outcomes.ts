import { insertAttempt } from "../db/attempts";
import { finishAttempt, nextInCall, type AttemptTransition } from "../db/deliveries";
import { createAfterFirstAttempt, recordDeliveredInline } from "../db/first-attempts";
import {
  disableDestination,
  disableFailingDestination,
  recordDestinationOutcome,
  type DestinationRow,
} from "../db/destinations";
import type { Shard } from "../db/shards";
import { countAttempts, HOUR_MS, type AttemptCount } from "../db/stats";
import { config, type Env } from "../env";
import { sendAlert } from "./alerts";
import type { Outcome } from "./outcome";
import { scheduleRetries } from "./schedule-retries";

const transitionOf = { delivered: "deliver", failed: "fail", dead: "die", held: "gone" } as const satisfies Record<
  Outcome["status"] & string,
  AttemptTransition
>;

/**
 * Waits between tries of a recording that D1 refused. The attempt has been
 * made; an unrecorded one is sent again once its lease ends (at most
 * MAX_UNRECORDED_CLAIMS times), so a brief D1 hiccup is worth riding out here.
 */
export const RECORD_RETRY_DELAYS_MS = [200, 1000];

async function batchWithRetries(db: D1Database, statements: D1PreparedStatement[]): Promise<D1Result[]> {
  for (let i = 0; ; i++) {
    try {
      return await db.batch(statements);
    } catch (err) {
      const wait = RECORD_RETRY_DELAYS_MS[i];
      if (wait === undefined) throw err;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

function attemptCounts(outcomes: readonly Outcome[]): AttemptCount[] {
  const counts = new Map<string, AttemptCount>();
  for (const o of outcomes) {
    const hour = Math.floor(o.endedAt / HOUR_MS) * HOUR_MS;
    const key = `${hour}|${o.delivery.tenant_id}|${o.trigger}|${o.status}`;
    const c = counts.get(key);
    if (c) c.n++;
    else counts.set(key, { hour, tenant_id: o.delivery.tenant_id, trigger: o.trigger, outcome: o.status as AttemptCount["outcome"], n: 1 });
  }
  return [...counts.values()];
}

/**
 * Writes a group of outcomes, one D1 batch per shard (each attempt, its
 * delivery's transition, the hour's counters) and one in the control
 * database (the destinations' health), then alerts,
 * schedules retries, and sends on the next event of each call that was
 * waiting for a delivery finished here.
 */
export async function recordOutcomes(
  env: Env,
  ctx: ExecutionContext,
  owner: string,
  outcomes: readonly Outcome[],
  destinations: ReadonlyMap<string, DestinationRow>,
): Promise<void> {
  if (outcomes.length === 0) return;
  const now = Date.now();
  const byShard = new Map<Shard, D1PreparedStatement[]>();
  const health = new Map<string, { succeeded: boolean; failures: number; deads: number }>();
  const gone = new Set<string>();
  const deliveredInline = new Map<string, { shard: Shard; delivered: Record<string, [number, number | null, number]> }>();
  for (const o of outcomes) {
    const db = o.delivery.shard.db;
    const list = byShard.get(o.delivery.shard) ?? [];
    byShard.set(o.delivery.shard, list);
    const attempt = {
      delivery_id: o.delivery.id,
      at: o.endedAt - o.result.durationMs,
      status_code: o.result.statusCode,
      duration_ms: o.result.durationMs,
      error: o.result.error,
      response_body: o.result.responseBody,
    };
    if (o.delivery.inline && o.status === "delivered") {
      const e = deliveredInline.get(o.delivery.event_id) ?? { shard: o.delivery.shard, delivered: {} };
      e.delivered[o.delivery.destination_id] = [attempt.at, attempt.status_code, attempt.duration_ms];
      deliveredInline.set(o.delivery.event_id, e);
    } else if (o.delivery.inline) {
      const d = o.delivery;
      const status = o.status as "failed" | "dead" | "held";
      list.push(
        insertAttempt(db, attempt),
        createAfterFirstAttempt(
          db,
          { id: d.id, event_id: d.event_id, destination_id: d.destination_id, status, status_code: o.result.statusCode, next_attempt_at: o.nextAttemptAt, schedule_step: o.scheduleStep },
          owner,
          now,
        ),
      );
    } else {
      list.push(
        insertAttempt(db, attempt),
        finishAttempt(
          db,
          transitionOf[o.status as keyof typeof transitionOf],
          { id: o.delivery.id, owner, status_code: o.result.statusCode, next_attempt_at: o.nextAttemptAt, schedule_step: o.scheduleStep },
          now,
        ),
      );
    }
    const h = health.get(o.delivery.destination_id) ?? { succeeded: false, failures: 0, deads: 0 };
    if (o.status === "delivered") h.succeeded = true;
    else if (o.status === "failed") h.failures++;
    else if (o.status === "dead") h.deads++;
    health.set(o.delivery.destination_id, h);
    if (o.gone) gone.add(o.delivery.destination_id);
  }
  // An event's first attempts that were delivered: one write of its row, whatever the number of destinations.
  for (const [eventId, e] of deliveredInline) byShard.get(e.shard)!.push(recordDeliveredInline(e.shard.db, eventId, owner, e.delivered));
  // The hour's counters go in the same batch as the attempts they count, so
  // that one is never recorded without the other.
  for (const [shard, list] of byShard) list.push(countAttempts(shard.db, attemptCounts(outcomes.filter((o) => o.delivery.shard === shard))));
  const control: D1PreparedStatement[] = [];
  for (const [id, h] of health) {
    if (destinations.has(id)) control.push(recordDestinationOutcome(env.DB, id, h, now));
  }
  const goneAt = new Date(now).toISOString();
  const goneStatements = [...gone].map((id) =>
    disableDestination(env.DB, id, `destination answered 410 Gone at ${goneAt}`, now),
  );
  const finished = outcomes.filter((o) => (o.status === "delivered" || o.status === "dead") && o.delivery.callid !== null);
  // The attempts, transitions and counters first, in their shards: they are
  // what keeps a delivery from being sent twice. The destinations' health,
  // in the control database, follows.
  const waiting = (
    await Promise.all(
      [...byShard].map(async ([shard, list]) => {
        const mine = finished.filter((o) => o.delivery.shard === shard).map((o) => o.delivery);
        const results = await batchWithRetries(shard.db, [...list, ...(mine.length ? [nextInCall(shard.db, mine, now)] : [])]);
        return mine.length ? (results.at(-1)!.results as { id: string }[]) : [];
      }),
    )
  ).flat();
  const results = await batchWithRetries(env.DB, [...control, ...goneStatements]);

  const alerts: Promise<void>[] = [];
  for (const r of results.slice(control.length)) {
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
    [
      ...outcomes.filter((o) => o.status === "failed").map((o) => ({ id: o.delivery.id, at: o.nextAttemptAt! })),
      ...waiting.map((w) => ({ id: w.id, at: now })),
    ],
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
