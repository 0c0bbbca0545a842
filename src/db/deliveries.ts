import type { Shard } from "./shards";
/*
 * SQL of the `deliveries` table. Each write names the lifecycle transition it
 * makes (src/delivery/lifecycle.ts) and takes its status and lease conditions
 * from there through `guard`.
 */

import {
  DUE,
  guard,
  MAX_UNRECORDED_CLAIMS,
  OPEN,
  REQUEUE_AFTER_MS,
  statusList,
  transitions,
  deliveryStatuses,
  type DeliveryStatus,
} from "../delivery/lifecycle";
import { deliveryColumns, derivedDeliveriesOf, derivedDeliveryId, inlineDelivered, inlineUnrecorded } from "./first-attempts";
import { ids, where } from "./sql";

export { deliveryStatuses, type DeliveryStatus };

export interface DeliveryRow {
  id: string;
  event_id: string;
  destination_id: string;
  tenant_id: string;
  status: DeliveryStatus;
  attempt_count: number;
  schedule_step: number;
  last_status_code: number | null;
  next_attempt_at: number | null;
  created_at: number;
  updated_at: number;
}

/** A claimed delivery with everything an attempt needs, read in the same batch as the claim. */
/** A claimed delivery as the claim statements answer it. */
export interface ClaimedDeliveryRow {
  id: string;
  event_id: string;
  destination_id: string;
  attempt_count: number;
  schedule_step: number;
  event_type: string;
  tenant_id: string;
  received_at: number;
  callid: string | null;
  seq: number | null;
  /** As stored: NULL for a body in R2, which the runner reads (or has in memory) before an attempt. */
  payload: string | null;
  payload_ref: string | null;
  payload_state: "kept" | "purged" | "erased";
}

/** A claimed delivery and the shard it lives in, where its outcome is recorded. */
export type ClaimedDelivery = ClaimedDeliveryRow & {
  shard: Shard;
  /** An inline first attempt: claimed by its event row, with no delivery row (src/db/first-attempts.ts). */
  inline?: boolean;
};

/**
 * "An earlier event of the same call is still owed to this destination" for
 * the delivery `d` of the event `ev`: the call's events are found through
 * events_callid, their deliveries to the same destination by their derived
 * ids (no index of its own). Owed means an open row, or no row and an inline
 * first attempt not yet recorded. Predecessors that this very statement can
 * claim too (`?set`, due and unleased) do not block: the runner sends a
 * call's claimed deliveries one after another, in order.
 */
const openPredecessor = (set: string, now: string) => `EXISTS (
  SELECT 1 FROM events pe LEFT JOIN deliveries pd ON pd.id = ${derivedDeliveryId("pe.id", "d.destination_id")}
  WHERE pe.callid = ev.callid AND pe.tenant_id = ev.tenant_id AND pe.seq < ev.seq
    AND CASE WHEN pd.id IS NULL THEN ${inlineUnrecorded("pe", "d.destination_id")}
      ELSE pd.status IN (${statusList(OPEN)})
        AND NOT (pd.id IN (SELECT value FROM json_each(${set})) AND ${guard("claim", "pd", { now })} AND pd.next_attempt_at <= ${now}) END)`;

/**
 * `create`: only if this very invocation created the event, so a
 * redelivered queue message or AiRudder's retry of the same callback adds
 * nothing. `ifBlocked`: the row of a first attempt this invocation would make
 * inline (with no row at all), created only when an earlier event of its
 * call is still owed to the destination; it then waits for that one (see
 * nextInCall).
 */
export const insertDeliveryForNewEvent = (
  db: D1Database,
  d: { id: string; event_id: string; destination_id: string; tenant_id: string; status: "pending" | "held" },
  batchNonce: string,
  now: number,
  ifBlocked: boolean,
) =>
  db
    .prepare(
      `INSERT INTO deliveries (id, event_id, destination_id, tenant_id, status, next_attempt_at, created_at, updated_at)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6
       FROM events ev, (SELECT ?3 AS destination_id) d
       WHERE ev.id = ?2 AND ev.batch_nonce = ?7 AND (NOT ?8 OR ${openPredecessor("'[]'", "?6")})
       ON CONFLICT (id) DO NOTHING`,
    )
    .bind(d.id, d.event_id, d.destination_id, d.tenant_id, d.status, now, batchNonce, ifBlocked ? 1 : 0);

/**
 * `abandon` of deliveries whose outcome was not recorded MAX_UNRECORDED_CLAIMS
 * times (the CRM may have had it each time): dead, never sent again.
 */
export const abandonUnrecorded = (db: D1Database, deliveryIds: readonly string[], now: number) =>
  db
    .prepare(
      `UPDATE deliveries AS d SET status = 'dead', next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL, updated_at = ?2
       WHERE d.id IN (SELECT value FROM json_each(?1)) AND ${guard("abandon", "d", { now: "?2" })}
         AND d.claims - d.attempt_count >= ${MAX_UNRECORDED_CLAIMS}
       RETURNING id, event_id, destination_id, claims - attempt_count AS unrecorded`,
    )
    .bind(ids(deliveryIds), now);

/**
 * Destinations live in the control database and deliveries in a shard, so a
 * statement about "the delivery's destination is enabled" is handed the
 * destinations' state, read from the control database just before, as
 * `{"dst_…": 1 | 0}`: 1 enabled, 0 paused, missing when deleted.
 */
export const destinationStates = (rows: readonly { id: string; enabled: number }[]) =>
  JSON.stringify(Object.fromEntries(rows.map((r) => [r.id, r.enabled])));

const stateOf = (states: string, alias: string) => `(SELECT value FROM json_each(${states}) WHERE key = ${alias}.destination_id)`;

/** `abandon` of open deliveries whose destination no longer exists. */
export const abandonOrphans = (db: D1Database, deliveryIds: readonly string[], now: number, states: string) =>
  db
    .prepare(
      `UPDATE deliveries AS d SET status = 'dead', next_attempt_at = NULL, updated_at = ?2
       WHERE d.id IN (SELECT value FROM json_each(?1)) AND ${guard("abandon", "d", { now: "?2" })}
         AND ${stateOf("?3", "d")} IS NULL`,
    )
    .bind(ids(deliveryIds), now, states);

/** `hold`: due deliveries of a paused destination wait instead of being attempted. */
export const holdPausedDeliveries = (db: D1Database, deliveryIds: readonly string[], now: number, states: string) =>
  db
    .prepare(
      `UPDATE deliveries AS d SET status = 'held', updated_at = ?2
       WHERE d.id IN (SELECT value FROM json_each(?1)) AND ${guard("hold", "d", { now: "?2" })}
         AND ${stateOf("?3", "d")} = 0`,
    )
    .bind(ids(deliveryIds), now, states);

/** `claim` by id for this invocation: every condition of lifecycle.ts's claim row. */
export const claimDueDeliveries = (
  db: D1Database,
  deliveryIds: readonly string[],
  owner: string,
  now: number,
  leaseMs: number,
  states: string,
) =>
  db
    .prepare(
      `UPDATE deliveries AS d SET lease_owner = ?2, lease_until = ?3 + ?4, claims = claims + 1
       WHERE d.id IN (SELECT value FROM json_each(?1)) AND ${guard("claim", "d", { now: "?3" })}
         AND d.next_attempt_at <= ?3
         AND d.claims - d.attempt_count < ${MAX_UNRECORDED_CLAIMS}
         AND ${stateOf("?5", "d")} = 1
         AND NOT EXISTS (SELECT 1 FROM events ev WHERE ev.id = d.event_id AND ${openPredecessor("?1", "?3")})`,
    )
    .bind(ids(deliveryIds), owner, now, leaseMs, states);

/** `renew`: extends this invocation's lease; answers the ids it still holds. */
export const renewLeases = (db: D1Database, deliveryIds: readonly string[], owner: string, until: number) =>
  db
    .prepare(
      `UPDATE deliveries AS d SET lease_until = ?3
       WHERE d.id IN (SELECT value FROM json_each(?1)) AND ${guard("renew", "d", { owner: "?2" })}
       RETURNING id`,
    )
    .bind(ids(deliveryIds), owner, until)
    .all<{ id: string }>();

/** The deliveries this invocation claimed, looked up by their ids (a key seek, never a scan for the owner). */
export const claimedBy = (db: D1Database, owner: string, deliveryIds: readonly string[]) =>
  db
    .prepare(
      `SELECT d.id, d.event_id, d.destination_id, d.attempt_count, d.schedule_step,
         e.type AS event_type, e.tenant_id, e.received_at, e.callid, e.seq, e.payload, e.payload_ref, e.payload_state
       FROM deliveries d JOIN events e ON e.id = d.event_id
       WHERE d.id IN (SELECT value FROM json_each(?2)) AND d.lease_owner = ?1`,
    )
    .bind(owner, ids(deliveryIds));

/** Not yet due (a delay longer than the queue allows, or a retry that came early). */
export const notYetDue = (db: D1Database, deliveryIds: readonly string[], now: number) =>
  db
    .prepare(
      `SELECT id, next_attempt_at FROM deliveries
       WHERE id IN (SELECT value FROM json_each(?1)) AND status IN (${statusList(DUE)}) AND next_attempt_at > ?2`,
    )
    .bind(ids(deliveryIds), now);

/** `defer`: hands claimed, unattempted deliveries back, due again at `at`; no retry step is spent. */
export const deferClaimed = (db: D1Database, deliveryIds: readonly string[], owner: string, at: number) =>
  db
    .prepare(
      `UPDATE deliveries AS d SET next_attempt_at = ?3, lease_owner = NULL, lease_until = NULL, claims = claims - 1
       WHERE d.id IN (SELECT value FROM json_each(?1)) AND ${guard("defer", "d", { owner: "?2" })}`,
    )
    .bind(ids(deliveryIds), owner, at);

export type AttemptTransition = "deliver" | "fail" | "die" | "gone";

/**
 * `deliver`, `fail`, `die` or `gone`: records an attempt's outcome and
 * releases the claim, only if this invocation still holds it.
 */
export const finishAttempt = (
  db: D1Database,
  transition: AttemptTransition,
  d: { id: string; owner: string; status_code: number | null; next_attempt_at: number | null; schedule_step: number },
  now: number,
) =>
  db
    .prepare(
      `UPDATE deliveries AS d SET status = ?3, attempt_count = attempt_count + 1, last_status_code = ?4,
         next_attempt_at = ?5, schedule_step = ?6, lease_owner = NULL, lease_until = NULL, updated_at = ?7
       WHERE d.id = ?1 AND ${guard(transition, "d", { owner: "?2" })}`,
    )
    .bind(d.id, d.owner, transitions[transition].to[0], d.status_code, d.next_attempt_at, d.schedule_step, now);

/**
 * For deliveries just finished (delivered or dead), the next open delivery of
 * the same call to the same destination that is due and unleased: it was
 * waiting for this one (see openPredecessor), and is sent on now.
 */
export const nextInCall = (db: D1Database, finished: readonly { event_id: string; destination_id: string }[], now: number) =>
  db
    .prepare(
      `SELECT n.id FROM (
         SELECT pd.id, MIN(pe.seq) FROM json_each(?1) f
         JOIN events e0 ON e0.id = json_extract(f.value, '$.e')
         JOIN events pe ON pe.callid = e0.callid AND pe.tenant_id = e0.tenant_id AND pe.seq > e0.seq
         JOIN deliveries pd ON pd.id = 'dlv_' || substr(pe.id, 5) || '_' || substr(json_extract(f.value, '$.d'), 5)
         WHERE e0.callid IS NOT NULL AND pd.status IN (${statusList(OPEN)})
         GROUP BY f.key) n
       JOIN deliveries d ON d.id = n.id
       WHERE ${guard("claim", "d", { now: "?2" })} AND d.next_attempt_at <= ?2`,
    )
    .bind(JSON.stringify(finished.map((f) => ({ e: f.event_id, d: f.destination_id }))), now);

/**
 * `requeue`: overdue deliveries nobody holds whose queue message the sweep
 * has not sent again recently; marks them sent.
 */
export const requeueOverdue = (db: D1Database, before: number, now: number, limit: number) =>
  db
    .prepare(
      `UPDATE deliveries SET requeued_at = ?2 WHERE id IN (
         SELECT d.id FROM deliveries d
         WHERE ${guard("requeue", "d", { now: "?2" })} AND d.next_attempt_at <= ?1
           AND (d.requeued_at IS NULL OR d.requeued_at < ?2 - ${REQUEUE_AFTER_MS})
         ORDER BY d.next_attempt_at LIMIT ?3)
       RETURNING id`,
    )
    .bind(before, now, limit)
    .all<{ id: string }>();

/** Of these enabled destinations, those with held deliveries here (a release to finish, or one stored held from a stale snapshot). */
export const destinationsWithHeldToRelease = (db: D1Database, enabledIds: readonly string[], limit: number) =>
  db
    .prepare(
      `SELECT t.value AS id FROM json_each(?1) t
       WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.destination_id = t.value AND d.status = 'held') LIMIT ?2`,
    )
    .bind(ids(enabledIds), limit)
    .all<{ id: string }>();

/** `release` of one chunk of an enabled destination's held deliveries, oldest first (the caller has read that it is enabled). */
export const releaseHeldChunk = (db: D1Database, destinationId: string, now: number, limit: number) =>
  db
    .prepare(
      `UPDATE deliveries AS d SET status = 'pending', next_attempt_at = ?2, updated_at = ?2
       WHERE d.id IN (SELECT id FROM deliveries WHERE destination_id = ?1 AND status = 'held' ORDER BY created_at, id LIMIT ?3)
         AND ${guard("release", "d", { now: "?2" })}
       RETURNING id, created_at`,
    )
    .bind(destinationId, now, limit)
    .all<{ id: string; created_at: number }>();

/** `abandon` of one chunk of a removed destination's open deliveries. */
export const abandonOfDestinationChunk = (db: D1Database, destinationId: string, now: number, limit: number) =>
  db
    .prepare(
      `UPDATE deliveries AS d SET status = 'dead', next_attempt_at = NULL, updated_at = ?2
       WHERE d.id IN (SELECT id FROM deliveries WHERE destination_id = ?1 AND status IN (${statusList(OPEN)})
                      AND (lease_until IS NULL OR lease_until < ?2) LIMIT ?3)
         AND ${guard("abandon", "d", { now: "?2" })}
       RETURNING id`,
    )
    .bind(destinationId, now, limit)
    .all<{ id: string }>();

/**
 * `restart` (operator retry, recover): the schedule starts over, `held`
 * instead while the destination is paused. Never beside an attempt in flight.
 */
export const restartDeliveries = (db: D1Database, deliveryIds: readonly string[], now: number, states: string) =>
  db
    .prepare(
      `UPDATE deliveries AS d SET status = CASE WHEN ${stateOf("?3", "d")} = 1 THEN 'pending' ELSE 'held' END,
         schedule_step = 0, next_attempt_at = ?2, updated_at = ?2
       WHERE d.id IN (SELECT value FROM json_each(?1)) AND ${guard("restart", "d", { now: "?2" })}
       RETURNING id, status`,
    )
    .bind(ids(deliveryIds), now, states)
    .all<{ id: string; status: DeliveryStatus }>();

/**
 * `replay`: starts a delivery over under the same webhook-id, or creates it
 * (a destination added since, or a first attempt delivered inline). A
 * delivery whose attempt is in flight (leased, or an inline first attempt
 * not yet recorded) is left alone and not returned.
 */
export const replayDelivery = (
  db: D1Database,
  d: { id: string; event_id: string; destination_id: string; tenant_id: string },
  now: number,
  enabled: boolean,
) =>
  db
    .prepare(
      `INSERT INTO deliveries AS d (id, event_id, destination_id, tenant_id, status, next_attempt_at, created_at, updated_at, attempt_count)
       SELECT ?1, ?2, ?3, ?4, CASE WHEN ?6 THEN 'pending' ELSE 'held' END, ?5, ?5, ?5,
         -- A first attempt delivered inline counts, as it would have on a row.
         COALESCE((SELECT ${inlineDelivered("e", "?3")} FROM events e WHERE e.id = ?2), 0)
       WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = ?2 AND e.fanout_until >= ?5 AND ${inlineUnrecorded("e", "?3")})
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, schedule_step = 0, next_attempt_at = ?5, updated_at = ?5
         WHERE ${guard("replay", "d", { now: "?5" })}
       RETURNING id, status`,
    )
    .bind(d.id, d.event_id, d.destination_id, d.tenant_id, now, enabled ? 1 : 0);

/** One page of a destination's failed and dead deliveries since `since`, oldest first (recover). */
export const failedDeliveriesSince = (
  db: D1Database,
  destinationId: string,
  since: number,
  after: { created_at: number; id: string } | null,
  limit: number,
) =>
  db
    .prepare(
      `SELECT id, created_at FROM deliveries
       WHERE destination_id = ?1 AND created_at >= ?2 AND status IN ('failed', 'dead')
         AND (created_at > ?3 OR (created_at = ?3 AND id > ?4))
       ORDER BY created_at, id LIMIT ?5`,
    )
    .bind(destinationId, since, after?.created_at ?? -1, after?.id ?? "", limit)
    .all<{ id: string; created_at: number }>();

/** An event's deliveries, stored and derived: `range` is the event's span of delivery ids (see deliveryRangeOf). */
export const deliveriesOfEvent = (db: D1Database, eventId: string, range: readonly [string, string]) =>
  db
    .prepare(
      `SELECT * FROM (SELECT ${deliveryColumns} FROM deliveries WHERE id >= ?1 AND id < ?2 UNION ALL ${derivedDeliveriesOf("?3")})
       ORDER BY created_at, id`,
    )
    .bind(range[0], range[1], eventId)
    .all<DeliveryRow>();

/** A stored delivery (see derivedDelivery for one delivered inline). */
export const getDelivery = (db: D1Database, id: string) =>
  db.prepare(`SELECT ${deliveryColumns} FROM deliveries WHERE id = ?1`).bind(id).first<DeliveryRow>();

export const listDeliveries = (
  db: D1Database,
  f: { status?: string; tenant?: string; destination?: string },
  cursor: { created_at: number; id: string } | null,
  limit: number,
) => {
  // The status is one of five known words, inlined so that SQLite can use the
  // partial index of that status (a bound parameter cannot prove it).
  const status = deliveryStatuses.find((s) => s === f.status);
  const w = where([
    [`status = '${status}'`, status],
    ["tenant_id = ?1", f.tenant],
    ["destination_id = ?1", f.destination],
    ["(created_at < ?1 OR (created_at = ?1 AND id < ?2))", cursor ? [cursor.created_at, cursor.id] : undefined],
  ]);
  return db
    .prepare(`SELECT ${deliveryColumns} FROM deliveries ${w.sql} ORDER BY created_at DESC, id DESC LIMIT ?${w.values.length + 1}`)
    .bind(...w.values, limit)
    .all<DeliveryRow>();
};

/** Deliveries waiting on an operator: held (paused destination) and dead, per tenant; each through its partial index. */
export const countHeldAndDead = (db: D1Database, tenant: string | null) =>
  db
    .prepare(
      `SELECT (SELECT COUNT(*) FROM deliveries WHERE status = 'held' AND (?1 IS NULL OR tenant_id = ?1)) AS held,
         (SELECT COUNT(*) FROM deliveries WHERE status = 'dead' AND (?1 IS NULL OR tenant_id = ?1)) AS dead`,
    )
    .bind(tenant)
    .first<{ held: number; dead: number }>();
