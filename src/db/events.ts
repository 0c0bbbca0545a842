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

/**
 * Stores an event once. `seq` numbers the events of one call within a tenant
 * in the order they are stored. `fanout`: the destinations whose first
 * attempt this invocation makes inline, claimed until `fanoutUntil` (see
 * src/db/first-attempts.ts).
 */
export const insertEvent = (
  db: D1Database,
  e: Omit<EventRow, "payload" | "payload_state" | "seq">,
  batchNonce: string,
  fanout: readonly string[],
  fanoutUntil: number,
) =>
  db
    .prepare(
      `INSERT INTO events (id, tenant_id, kind, type, received_at, payload_ref, callid, task_id, state, agent,
         phone_masked, call_time, seq, batch_nonce, fanout, fanout_until, fanout_claims)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
         CASE WHEN ?7 IS NULL THEN NULL
           ELSE (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE tenant_id = ?2 AND callid = ?7) END,
         ?13, ?14, CASE WHEN ?14 IS NULL THEN NULL ELSE ?15 END, ?14 IS NOT NULL)
       ON CONFLICT (id) DO NOTHING`,
    )
    .bind(
      e.id,
      e.tenant_id,
      e.kind,
      e.type,
      e.received_at,
      e.payload_ref,
      e.callid,
      e.task_id,
      e.state,
      e.agent,
      e.phone_masked,
      e.call_time,
      batchNonce,
      fanout.length ? JSON.stringify(fanout) : null,
      fanoutUntil,
    );

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
