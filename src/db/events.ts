import type { EventColumns } from "../callbacks/columns";
import { ids, where } from "./sql";

export interface EventRow extends EventColumns {
  id: string;
  tenant_id: string;
  kind: string;
  type: string;
  received_at: number;
  /** Rows stored before payloads moved to R2; NULL for the rest. */
  payload: string | null;
  /** Where the body is in R2 (src/storage/payloads.ts). */
  payload_ref: string | null;
  payload_state: "kept" | "purged" | "erased";
  seq: number | null;
}

/** An event to store, with the destinations whose first attempt this invocation makes inline (see src/db/first-attempts.ts). */
export interface NewEvent extends Omit<EventRow, "payload" | "payload_state" | "seq"> {
  fanout: readonly string[];
}

const newEventColumns = ["id", "tenant_id", "kind", "type", "received_at", "payload_ref", "callid", "task_id", "state", "agent", "phone_masked", "call_time"] as const;

/**
 * Stores events once each, with one statement for a whole batch: a statement
 * per event cost the consumer more than the rows themselves. `seq` numbers the
 * events of one call within a tenant in the order given; an event already
 * stored is skipped and takes no number. Both steps are MATERIALIZED so that
 * every number is read before the first row goes in. The fan-out is claimed
 * until `fanoutUntil`.
 */
export const insertEvents = (db: D1Database, events: readonly NewEvent[], batchNonce: string, fanoutUntil: number) =>
  db
    .prepare(
      `WITH fresh AS MATERIALIZED (
         SELECT j.key AS pos, ${newEventColumns.map((c) => `j.value ->> '${c}' AS ${c}`).join(", ")},
           CASE WHEN json_array_length(j.value, '$.fanout') > 0 THEN j.value ->> 'fanout' END AS fanout
         FROM json_each(?1) j
         WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = j.value ->> 'id')
       ),
       numbered AS MATERIALIZED (
         SELECT f.*, CASE WHEN f.callid IS NULL THEN NULL
           ELSE (SELECT COALESCE(MAX(e.seq), 0) FROM events e WHERE e.tenant_id = f.tenant_id AND e.callid = f.callid)
             + ROW_NUMBER() OVER (PARTITION BY f.tenant_id, f.callid ORDER BY f.pos) END AS seq
         FROM fresh f
       )
       INSERT INTO events (${newEventColumns.join(", ")}, seq, batch_nonce, fanout, fanout_until, fanout_claims)
       SELECT ${newEventColumns.join(", ")}, seq, ?2, fanout, CASE WHEN fanout IS NULL THEN NULL ELSE ?3 END, fanout IS NOT NULL
       FROM numbered WHERE true ORDER BY pos
       ON CONFLICT (id) DO NOTHING`,
    )
    .bind(JSON.stringify(events), batchNonce, fanoutUntil);

/** Events that are already stored, of these ids: the consumer does not write their bodies to R2 again. */
export const storedEventIds = (db: D1Database, eventIds: readonly string[]) =>
  db.prepare("SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?1))").bind(ids(eventIds));

/** Which of these calls already have events here (tenant and callid): a call stays in the shard where it started. */
export const callsStored = (db: D1Database, callids: readonly string[]) =>
  db.prepare("SELECT DISTINCT tenant_id, callid FROM events WHERE callid IN (SELECT value FROM json_each(?1))").bind(ids(callids));

export const getEvent = (db: D1Database, id: string) =>
  db.prepare("SELECT * FROM events WHERE id = ?1").bind(id).first<EventRow & { batch_nonce: string }>();

export interface EventFilters {
  tenant?: string;
  type?: string;
  callid?: string;
  task_id?: string;
  state?: string;
  agent?: string;
  phone_last4?: string;
  since?: number;
  until?: number;
}

export const listEvents = (
  db: D1Database,
  f: EventFilters,
  cursor: { received_at: number; id: string } | null,
  limit: number,
) => {
  const w = where([
    // With a callid, `+` keeps SQLite on events_callid (a call has a few events) rather than the tenant's whole history.
    [f.callid === undefined ? "tenant_id = ?1" : "+tenant_id = ?1", f.tenant],
    ["type = ?1", f.type],
    ["callid = ?1", f.callid],
    ["task_id = ?1", f.task_id],
    ["state = ?1", f.state],
    ["agent = ?1", f.agent],
    ["phone_masked = ?1", f.phone_last4 === undefined ? undefined : "***" + f.phone_last4],
    ["received_at >= ?1", f.since],
    ["received_at < ?1", f.until],
    ["(received_at < ?1 OR (received_at = ?1 AND id < ?2))", cursor ? [cursor.received_at, cursor.id] : undefined],
  ]);
  return db
    .prepare(
      `SELECT id, tenant_id, kind, type, received_at, payload_state, payload_ref, callid, task_id, state, agent, phone_masked,
         call_time, seq
       FROM events ${w.sql}
       ORDER BY received_at DESC, id DESC LIMIT ?${w.values.length + 1}`,
    )
    .bind(...w.values, limit)
    .all<Omit<EventRow, "payload">>();
};
