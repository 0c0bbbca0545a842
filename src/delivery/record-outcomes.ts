import { insertAttempt } from "../db/attempts";
import { finishAttempt } from "../db/deliveries";
import { disableDestination, disableFailingDestination, recordDestinationOutcome, type DestinationRow } from "../db/destinations";
import { config, type Env } from "../env";
import { sendAlert } from "./alerts";
import type { Outcome } from "./outcome";
import { scheduleRetries } from "./schedule-retries";

/** Writes a group of outcomes in one D1 batch, then alerts and schedules their retries. */
export async function recordOutcomes(
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

