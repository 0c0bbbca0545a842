import { ids, where } from "./sql";

export const deliveryStatuses = ["pending", "delivered", "failed", "dead", "held"] as const;
export type DeliveryStatus = (typeof deliveryStatuses)[number];

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
export interface ClaimedDelivery {
  id: string;
  event_id: string;
  destination_id: string;
  attempt_count: number;
  schedule_step: number;
  event_type: string;
  tenant_id: string;
  received_at: number;
  seq: number | null;
  payload: string | null;
}

/**
 * Creates a delivery only if this very invocation created the event: a
 * redelivered queue message, or AiRudder's retry of the same callback, finds
 * the event already stored by another invocation and adds nothing. A delivery
 * whose first attempt this invocation will make is created already claimed
 * by it (`leaseUntil`), which saves a second write.
 */
export const insertDeliveryForNewEvent = (
  db: D1Database,
  d: { id: string; event_id: string; destination_id: string; tenant_id: string; status: DeliveryStatus },
  batchNonce: string,
  now: number,
  leaseUntil: number | null,
) =>
  db
    .prepare(
      `INSERT INTO deliveries (id, event_id, destination_id, tenant_id, status, next_attempt_at, created_at, updated_at,
         lease_owner, lease_until)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6, CASE WHEN ?8 IS NULL THEN NULL ELSE ?7 END, ?8
       FROM events WHERE id = ?2 AND batch_nonce = ?7
       ON CONFLICT (id) DO NOTHING`,
    )
    .bind(d.id, d.event_id, d.destination_id, d.tenant_id, d.status, now, batchNonce, leaseUntil);

/**
 * Claims never-attempted deliveries left by an earlier invocation that
 * stored them and then died before its first attempts.
 */
export const claimFirstAttempts = (
  db: D1Database,
  deliveryIds: readonly string[],
  owner: string,
  now: number,
  leaseMs: number,
) =>
  db
    .prepare(
      `UPDATE deliveries SET lease_owner = ?2, lease_until = ?3 + ?4
       WHERE id IN (SELECT value FROM json_each(?1))
         AND status = 'pending' AND attempt_count = 0
         AND (lease_until IS NULL OR lease_until < ?3)`,
    )
    .bind(ids(deliveryIds), owner, now, leaseMs);

/** Claims due deliveries by id for this invocation (retries, sweeps, operator actions). */
export const claimDueDeliveries = (
  db: D1Database,
  deliveryIds: readonly string[],
  owner: string,
  now: number,
  leaseMs: number,
) =>
  db
    .prepare(
      `UPDATE deliveries SET lease_owner = ?2, lease_until = ?3 + ?4
       WHERE id IN (SELECT value FROM json_each(?1))
         AND status IN ('pending', 'failed') AND next_attempt_at <= ?3
         AND (lease_until IS NULL OR lease_until < ?3)
         AND destination_id IN (SELECT id FROM destinations WHERE enabled = 1)`,
    )
    .bind(ids(deliveryIds), owner, now, leaseMs);

/** Due deliveries of a paused destination wait as `held` instead of being attempted. */
export const holdPausedDeliveries = (db: D1Database, deliveryIds: readonly string[]) =>
  db
    .prepare(
      `UPDATE deliveries SET status = 'held'
       WHERE id IN (SELECT value FROM json_each(?1)) AND status IN ('pending', 'failed')
         AND destination_id NOT IN (SELECT id FROM destinations WHERE enabled = 1)`,
    )
    .bind(ids(deliveryIds));

/** The deliveries this invocation claimed, looked up by their ids (a key seek, never a scan for the owner). */
export const claimedBy = (db: D1Database, owner: string, deliveryIds: readonly string[]) =>
  db
    .prepare(
      `SELECT d.id, d.event_id, d.destination_id, d.attempt_count, d.schedule_step,
         e.type AS event_type, e.tenant_id, e.received_at, e.seq, e.payload
       FROM deliveries d JOIN events e ON e.id = d.event_id
       WHERE d.id IN (SELECT value FROM json_each(?2)) AND d.lease_owner = ?1`,
    )
    .bind(owner, ids(deliveryIds));

/** Not yet due (a delay longer than the queue allows, or a retry that came early). */
export const notYetDue = (db: D1Database, deliveryIds: readonly string[], now: number) =>
  db
    .prepare(
      `SELECT id, next_attempt_at FROM deliveries
       WHERE id IN (SELECT value FROM json_each(?1)) AND status IN ('pending', 'failed') AND next_attempt_at > ?2`,
    )
    .bind(ids(deliveryIds), now);

/** Hands a claimed, unattempted delivery back, due again at `at`. */
export const deferClaimed = (db: D1Database, id: string, owner: string, at: number) =>
  db
    .prepare(
      "UPDATE deliveries SET next_attempt_at = ?3, lease_owner = NULL, lease_until = NULL WHERE id = ?1 AND lease_owner = ?2",
    )
    .bind(id, owner, at);

/** Records the outcome of an attempt and releases the claim, only if this invocation still holds it. */
export const finishAttempt = (
  db: D1Database,
  d: {
    id: string;
    owner: string;
    status: DeliveryStatus;
    status_code: number | null;
    next_attempt_at: number | null;
    schedule_step: number;
  },
  now: number,
) =>
  db
    .prepare(
      `UPDATE deliveries SET status = ?3, attempt_count = attempt_count + 1, last_status_code = ?4,
         next_attempt_at = ?5, schedule_step = ?6, lease_owner = NULL, lease_until = NULL, updated_at = ?7
       WHERE id = ?1 AND lease_owner = ?2`,
    )
    .bind(d.id, d.owner, d.status, d.status_code, d.next_attempt_at, d.schedule_step, now);

export const overdueDeliveries = (db: D1Database, before: number, now: number, limit: number) =>
  db
    .prepare(
      `SELECT id FROM deliveries
       WHERE status IN ('pending', 'failed') AND next_attempt_at <= ?1
         AND (lease_until IS NULL OR lease_until < ?2)
       ORDER BY next_attempt_at LIMIT ?3`,
    )
    .bind(before, now, limit)
    .all<{ id: string }>();

/** Releases a paused destination's held deliveries, oldest first; answers their ids in that order. */
export const releaseHeld = (db: D1Database, destinationId: string, now: number) =>
  db
    .prepare(
      `UPDATE deliveries SET status = 'pending', next_attempt_at = ?2, updated_at = ?2
       WHERE destination_id = ?1 AND status = 'held'
       RETURNING id, created_at`,
    )
    .bind(destinationId, now)
    .all<{ id: string; created_at: number }>();

/**
 * Starts a delivery's schedule again from the beginning (operator retry,
 * replay, recover). A claim in force is left alone: the attempt in flight
 * records its outcome, and no second attempt starts beside it.
 */
export const restartDelivery = (db: D1Database, id: string, now: number) =>
  db
    .prepare(
      `UPDATE deliveries SET status = CASE WHEN destination_id IN (SELECT id FROM destinations WHERE enabled = 1)
           THEN 'pending' ELSE 'held' END,
         schedule_step = 0, next_attempt_at = ?2, updated_at = ?2
       WHERE id = ?1 RETURNING id, status`,
    )
    .bind(id, now);

export const upsertReplayDelivery = (
  db: D1Database,
  d: { id: string; event_id: string; destination_id: string; tenant_id: string },
  now: number,
) =>
  db
    .prepare(
      `INSERT INTO deliveries (id, event_id, destination_id, tenant_id, status, next_attempt_at, created_at, updated_at)
       VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5, ?5)
       ON CONFLICT (id) DO UPDATE SET status = 'pending', schedule_step = 0,
         next_attempt_at = ?5, updated_at = ?5`,
    )
    .bind(d.id, d.event_id, d.destination_id, d.tenant_id, now);

export const failedDeliveriesSince = (db: D1Database, destinationId: string, since: number) =>
  db
    .prepare(
      `SELECT id FROM deliveries WHERE destination_id = ?1 AND status IN ('failed', 'dead') AND created_at >= ?2
       ORDER BY created_at`,
    )
    .bind(destinationId, since)
    .all<{ id: string }>();

/** An event's deliveries: `range` is the event's span of delivery ids (see deliveryRangeOf). */
export const deliveriesOfEvent = (db: D1Database, range: readonly [string, string]) =>
  db
    .prepare("SELECT * FROM deliveries WHERE id >= ?1 AND id < ?2 ORDER BY created_at, id")
    .bind(range[0], range[1])
    .all<DeliveryRow>();

export const getDelivery = (db: D1Database, id: string) =>
  db.prepare("SELECT * FROM deliveries WHERE id = ?1").bind(id).first<DeliveryRow>();

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
    .prepare(`SELECT * FROM deliveries ${w.sql} ORDER BY created_at DESC, id DESC LIMIT ?${w.values.length + 1}`)
    .bind(...w.values, limit)
    .all<DeliveryRow>();
};
