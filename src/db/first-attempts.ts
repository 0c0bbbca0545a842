/*
 * SQL of inline first attempts: the part of the `events` row that claims and
 * records a new event's first attempts (src/delivery/lifecycle.ts, "Inline
 * first attempts"), and the deliveries derived from it. A first attempt that
 * was delivered has no row in `deliveries` or `attempts`; the readers here
 * answer it as one.
 */

import { MAX_UNRECORDED_CLAIMS } from "../delivery/lifecycle";
import type { AttemptRow } from "./attempts";
import { ids, where } from "./sql";

/** The delivery id of an event and a destination, in SQL (see deliveryIdFor). */
export const derivedDeliveryId = (eventId: string, destinationId: string) =>
  `'dlv_' || substr(${eventId}, 5) || '_' || substr(${destinationId}, 5)`;

/**
 * The `first_attempts` entry of fan-out element `f` (a row of
 * `json_each(e.fanout)`: `f.key` its position, `f.value` the destination):
 * [start ms, status code, duration ms], or NULL while not recorded. Entries
 * are keyed by position, which keeps the row inside its page at many
 * destinations (docs/COST.md, "Storage"); rows written before are keyed by
 * destination id, and are read as well until they expire.
 */
const entryOf = (e: string, f: string) =>
  `COALESCE(json_extract(${e}.first_attempts, '$."' || ${f}.key || '"'), json_extract(${e}.first_attempts, '$."' || ${f}.value || '"'))`;

/**
 * The event row `e` still owes fan-out element `f` its inline first attempt:
 * not recorded as delivered, and no row created for it (by a failed outcome,
 * a wait behind an earlier event, or a replay).
 */
const unrecordedAt = (e: string, f: string) => `(${entryOf(e, f)} IS NULL
  AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.id = ${derivedDeliveryId(`${e}.id`, `${f}.value`)}))`;

/** The event row `e` still owes its inline first attempt to `destination` (see unrecordedAt). */
export const inlineUnrecorded = (e: string, destination: string) =>
  `EXISTS (SELECT 1 FROM json_each(${e}.fanout) p WHERE p.value = ${destination} AND ${unrecordedAt(e, "p")})`;

/** The event row `e` lists `destination` in its fan-out and has its first attempt recorded as delivered. */
export const inlineDelivered = (e: string, destination: string) =>
  `EXISTS (SELECT 1 FROM json_each(${e}.fanout) p WHERE p.value = ${destination} AND ${entryOf(e, "p")} IS NOT NULL)`;

const anyUnrecorded = (e: string) => `EXISTS (SELECT 1 FROM json_each(${e}.fanout) f WHERE ${unrecordedAt(e, "f")})`;

/**
 * A fan-out left unrecorded by an invocation whose lease is over, taken on by
 * this one (`owner`): the callback came back with its queue message.
 */
export const takeOverFanouts = (db: D1Database, eventIds: readonly string[], owner: string, now: number, leaseMs: number) =>
  db
    .prepare(
      `UPDATE events AS e SET batch_nonce = ?2, fanout_until = ?3 + ?4, fanout_claims = fanout_claims + 1
       WHERE e.id IN (SELECT value FROM json_each(?1)) AND e.batch_nonce != ?2 AND e.fanout_until < ?3
         AND e.fanout_claims < ${MAX_UNRECORDED_CLAIMS} AND ${anyUnrecorded("e")}`,
    )
    .bind(ids(eventIds), owner, now, leaseMs);

/**
 * `abandon` of inline first attempts claimed MAX_UNRECORDED_CLAIMS times
 * without a recorded outcome (the CRM may have had each one): their rows
 * are created dead, never sent again.
 */
export const abandonUnrecordedFanouts = (db: D1Database, eventIds: readonly string[], now: number) =>
  db
    .prepare(
      `INSERT INTO deliveries (id, event_id, destination_id, tenant_id, status, claims, created_at, updated_at)
       SELECT ${derivedDeliveryId("e.id", "f.value")}, e.id, f.value, e.tenant_id, 'dead', e.fanout_claims, ?2, ?2
       FROM events e, json_each(e.fanout) f
       WHERE e.id IN (SELECT value FROM json_each(?1)) AND e.fanout_until < ?2
         AND e.fanout_claims >= ${MAX_UNRECORDED_CLAIMS} AND ${unrecordedAt("e", "f")}
       ON CONFLICT (id) DO NOTHING
       RETURNING id, event_id, destination_id, claims AS unrecorded`,
    )
    .bind(ids(eventIds), now);

/** The inline first attempts `owner` holds among these events, with what an attempt needs (shaped as ClaimedDeliveryRow). */
export const inlineClaimedBy = (db: D1Database, owner: string, eventIds: readonly string[]) =>
  db
    .prepare(
      `SELECT ${derivedDeliveryId("e.id", "f.value")} AS id, e.id AS event_id, f.value AS destination_id,
         0 AS attempt_count, 0 AS schedule_step, e.type AS event_type, e.tenant_id, e.received_at, e.callid, e.seq,
         e.payload, e.payload_ref, e.payload_state
       FROM events e, json_each(e.fanout) f
       WHERE e.id IN (SELECT value FROM json_each(?2)) AND e.batch_nonce = ?1 AND ${unrecordedAt("e", "f")}`,
    )
    .bind(owner, ids(eventIds));

/** Events of these whose fan-out another invocation still holds: their callbacks come back once its lease is over. */
export const fanoutsHeldElsewhere = (db: D1Database, eventIds: readonly string[], owner: string) =>
  db
    .prepare(
      `SELECT e.id, e.fanout_until FROM events e
       WHERE e.id IN (SELECT value FROM json_each(?1)) AND e.batch_nonce != ?2 AND ${anyUnrecorded("e")}`,
    )
    .bind(ids(eventIds), owner);

/**
 * `deliver` of inline first attempts: `delivered` is `{"dst_…": [start ms,
 * status code, duration ms]}`, stored under each destination's position in
 * the fan-out (see entryOf); only by the fan-out's owner.
 */
export const recordDeliveredInline = (db: D1Database, eventId: string, owner: string, delivered: Record<string, [number, number | null, number]>) =>
  db
    .prepare(
      `UPDATE events SET first_attempts = json_patch(COALESCE(first_attempts, '{}'),
         (SELECT json_group_object(CAST(f.key AS TEXT), json(d.value)) FROM json_each(?3) d JOIN json_each(events.fanout) f ON f.value = d.key))
       WHERE id = ?1 AND batch_nonce = ?2`,
    )
    .bind(eventId, owner, JSON.stringify(delivered));

/** `firstOutcome`: the row of an inline first attempt that was not delivered, created in its outcome's status by the fan-out's owner. */
export const createAfterFirstAttempt = (
  db: D1Database,
  d: {
    id: string;
    event_id: string;
    destination_id: string;
    status: "failed" | "dead" | "held";
    status_code: number | null;
    next_attempt_at: number | null;
    schedule_step: number;
  },
  owner: string,
  now: number,
) =>
  db
    .prepare(
      `INSERT INTO deliveries (id, event_id, destination_id, tenant_id, status, attempt_count, schedule_step, last_status_code,
         next_attempt_at, claims, created_at, updated_at)
       SELECT ?1, e.id, ?3, e.tenant_id, ?4, 1, ?5, ?6, ?7, 1, ?8, ?8
       FROM events e WHERE e.id = ?2 AND e.batch_nonce = ?9
       ON CONFLICT (id) DO NOTHING`,
    )
    .bind(d.id, d.event_id, d.destination_id, d.status, d.schedule_step, d.status_code, d.next_attempt_at, now, owner);

const entry = entryOf("e", "f");

/**
 * The columns of a delivery derived from an inline first attempt (`e` the
 * event, `f` its fan-out entry): delivered once recorded so, pending while in
 * flight.
 */
const derivedColumns = `${derivedDeliveryId("e.id", "f.value")} AS id, e.id AS event_id, f.value AS destination_id, e.tenant_id,
  CASE WHEN ${entry} IS NULL THEN 'pending' ELSE 'delivered' END AS status, ${entry} IS NOT NULL AS attempt_count,
  0 AS schedule_step, json_extract(${entry}, '$[1]') AS last_status_code, NULL AS next_attempt_at, e.received_at AS created_at,
  COALESCE(json_extract(${entry}, '$[0]') + json_extract(${entry}, '$[2]'), e.received_at) AS updated_at`;

/** Inline first attempts with no row (a failed outcome, a wait behind an earlier event or a replay creates one, which then speaks for it). */
const derivedFrom = `FROM events e, json_each(e.fanout) f
  WHERE e.fanout IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.id = ${derivedDeliveryId("e.id", "f.value")})`;

/** The columns of a stored delivery that readers see, the same as derivedColumns. */
export const deliveryColumns =
  "id, event_id, destination_id, tenant_id, status, attempt_count, schedule_step, last_status_code, next_attempt_at, created_at, updated_at";

/** A derived delivery, by its event and destination. */
export const derivedDelivery = (db: D1Database, eventId: string, destinationId: string) =>
  db.prepare(`SELECT ${derivedColumns} ${derivedFrom} AND e.id = ?1 AND f.value = ?2`).bind(eventId, destinationId);

/** The derived deliveries of one event. */
export const derivedDeliveriesOf = (eventParam: string) => `SELECT ${derivedColumns} ${derivedFrom} AND e.id = ${eventParam}`;

/**
 * Derived deliveries in a listing, newest first, by tenant on
 * events_tenant_received; a destination filter reads the JSON of each of its
 * tenant's events (`tenant` should be given with it).
 */
export const listDerivedDeliveries = (
  db: D1Database,
  f: { status?: "pending" | "delivered"; tenant?: string; destination?: string },
  cursor: { created_at: number; id: string } | null,
  limit: number,
) => {
  const w = where([
    ["e.tenant_id = ?1", f.tenant],
    ["f.value = ?1", f.destination],
    [`(e.received_at < ?1 OR (e.received_at = ?1 AND ${derivedDeliveryId("e.id", "f.value")} < ?2))`, cursor ? [cursor.created_at, cursor.id] : undefined],
  ]);
  const status = f.status === undefined ? "" : `WHERE status = '${f.status === "pending" ? "pending" : "delivered"}'`;
  return db
    .prepare(
      `SELECT * FROM (SELECT ${derivedColumns} ${derivedFrom} ${w.sql.replace(/^WHERE /, "AND ")}) ${status}
       ORDER BY created_at DESC, id DESC LIMIT ?${w.values.length + 1}`,
    )
    .bind(...w.values, limit);
};

/** The inline first attempts of these deliveries (given with their events and destinations), shaped as attempt rows. */
export const inlineAttemptsOf = (db: D1Database, deliveries: readonly { id: string; event_id: string; destination_id: string }[]) =>
  db
    .prepare(
      `SELECT json_extract(w.value, '$.id') AS delivery_id, json_extract(${entryOf("e", "p")}, '$[0]') AS at,
         json_extract(${entryOf("e", "p")}, '$[1]') AS status_code, json_extract(${entryOf("e", "p")}, '$[2]') AS duration_ms,
         NULL AS error, NULL AS response_body
       FROM json_each(?1) w
       JOIN events e ON e.id = json_extract(w.value, '$.event_id')
       JOIN json_each(e.fanout) p ON p.value = json_extract(w.value, '$.destination_id')
       WHERE ${entryOf("e", "p")} IS NOT NULL`,
    )
    .bind(JSON.stringify(deliveries.map((d) => ({ id: d.id, event_id: d.event_id, destination_id: d.destination_id }))))
    .all<AttemptRow>();
