/*
 * Every SQL statement of the relay. Times are epoch milliseconds. Functions
 * return prepared statements where the caller batches them, and results where
 * a single round trip is the whole job.
 */

import type { EventColumns } from "../callbacks/columns";

export interface TenantRow {
  id: string;
  name: string;
  token_hash: string;
  created_at: number;
}

export interface DestinationRow {
  id: string;
  tenant_id: string;
  url: string;
  event_types: string | null;
  filter: string | null;
  format: "envelope" | "raw";
  secret_enc: string;
  previous_secret_enc: string | null;
  previous_secret_expires_at: number | null;
  headers_enc: string | null;
  enabled: number;
  disabled_reason: string | null;
  consecutive_failures: number;
  consecutive_dead: number;
  failing_since: number | null;
  created_at: number;
  updated_at: number;
}

export interface EventRow extends EventColumns {
  id: string;
  tenant_id: string;
  kind: string;
  type: string;
  received_at: number;
  payload: string | null;
  payload_state: "kept" | "purged" | "erased";
  seq: number | null;
}

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

export interface AttemptRow {
  delivery_id: string;
  at: number;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  response_body: string | null;
}

export interface QuarantineRow {
  id: string;
  tenant_id: string;
  kind: string;
  received_at: number;
  last_received_at: number;
  times_received: number;
  body: string;
  issues: string;
  replayed_event_id: string | null;
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

const ids = (values: readonly string[]) => JSON.stringify(values);

// ---------- tenants ----------

export const getTenantTokenHash = (db: D1Database, id: string) =>
  db.prepare("SELECT token_hash FROM tenants WHERE id = ?1").bind(id).first<{ token_hash: string }>();

export const insertTenant = (db: D1Database, t: TenantRow) =>
  db
    .prepare("INSERT INTO tenants (id, name, token_hash, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING")
    .bind(t.id, t.name, t.token_hash, t.created_at)
    .run();

export const getTenant = (db: D1Database, id: string) =>
  db.prepare("SELECT id, name, created_at FROM tenants WHERE id = ?1").bind(id).first<Omit<TenantRow, "token_hash">>();

export const listTenants = (db: D1Database, afterId: string, limit: number) =>
  db
    .prepare("SELECT id, name, created_at FROM tenants WHERE id > ?1 ORDER BY id LIMIT ?2")
    .bind(afterId, limit)
    .all<Omit<TenantRow, "token_hash">>();

export const updateTenantToken = (db: D1Database, id: string, tokenHash: string) =>
  db.prepare("UPDATE tenants SET token_hash = ?2 WHERE id = ?1").bind(id, tokenHash).run();

// ---------- destinations ----------

export const insertDestination = (db: D1Database, d: DestinationRow) =>
  db
    .prepare(
      `INSERT INTO destinations (id, tenant_id, url, event_types, filter, format, secret_enc, headers_enc,
         enabled, disabled_reason, created_at, updated_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)`,
    )
    .bind(
      d.id,
      d.tenant_id,
      d.url,
      d.event_types,
      d.filter,
      d.format,
      d.secret_enc,
      d.headers_enc,
      d.enabled,
      d.disabled_reason,
      d.created_at,
      d.updated_at,
    )
    .run();

export const getDestination = (db: D1Database, id: string) =>
  db.prepare("SELECT * FROM destinations WHERE id = ?1").bind(id).first<DestinationRow>();

export const listDestinations = (db: D1Database, tenantId: string, afterId: string, limit: number) =>
  db
    .prepare("SELECT * FROM destinations WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3")
    .bind(tenantId, afterId, limit)
    .all<DestinationRow>();

export const destinationsOfTenants = (db: D1Database, tenantIds: readonly string[]) =>
  db
    .prepare("SELECT * FROM destinations WHERE tenant_id IN (SELECT value FROM json_each(?1))")
    .bind(ids(tenantIds));

export const destinationsByIds = (db: D1Database, destinationIds: readonly string[]) =>
  db.prepare("SELECT * FROM destinations WHERE id IN (SELECT value FROM json_each(?1))").bind(ids(destinationIds));

export const updateDestination = (
  db: D1Database,
  id: string,
  fields: Partial<Pick<DestinationRow, "url" | "event_types" | "filter" | "format" | "headers_enc" | "enabled" | "disabled_reason">>,
  now: number,
) => {
  const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
  const sets = entries.map(([k], i) => `${k} = ?${i + 3}`);
  // Re-enabling a destination also forgets its failure streak.
  const reset = fields.enabled === 1 ? ", consecutive_failures = 0, consecutive_dead = 0, failing_since = NULL" : "";
  return db
    .prepare(`UPDATE destinations SET updated_at = ?2${sets.length ? ", " + sets.join(", ") : ""}${reset} WHERE id = ?1`)
    .bind(id, now, ...entries.map(([, v]) => v))
    .run();
};

export const rotateDestinationSecret = (
  db: D1Database,
  id: string,
  secretEnc: string,
  previousExpiresAt: number,
  now: number,
) =>
  db
    .prepare(
      `UPDATE destinations SET previous_secret_enc = secret_enc, previous_secret_expires_at = ?3,
         secret_enc = ?2, updated_at = ?4 WHERE id = ?1`,
    )
    .bind(id, secretEnc, previousExpiresAt, now)
    .run();

export const deleteDestination = (db: D1Database, id: string) =>
  db.batch([
    db.prepare("DELETE FROM destinations WHERE id = ?1").bind(id),
    // Undelivered work for a removed destination can never be done.
    db
      .prepare(
        "UPDATE deliveries SET status = 'dead', next_attempt_at = NULL WHERE destination_id = ?1 AND status IN ('pending', 'failed', 'held')",
      )
      .bind(id),
  ]);

/** Destination health after attempts: one statement per destination touched. */
export const recordDestinationOutcome = (
  db: D1Database,
  id: string,
  outcome: { succeeded: boolean; failures: number; deads: number },
  now: number,
) =>
  outcome.succeeded
    ? db
        .prepare(
          "UPDATE destinations SET consecutive_failures = 0, consecutive_dead = 0, failing_since = NULL WHERE id = ?1 AND consecutive_failures + consecutive_dead > 0",
        )
        .bind(id)
    : db
        .prepare(
          `UPDATE destinations SET consecutive_failures = consecutive_failures + ?2,
             consecutive_dead = consecutive_dead + ?3, failing_since = COALESCE(failing_since, ?4) WHERE id = ?1`,
        )
        .bind(id, outcome.failures, outcome.deads, now);

/** Pauses a destination that has only failed for too long; answers the row when it did pause it now. */
export const disableFailingDestination = (
  db: D1Database,
  id: string,
  failingSinceBefore: number,
  maxDead: number,
  reason: string,
  now: number,
) =>
  db
    .prepare(
      `UPDATE destinations SET enabled = 0, disabled_reason = ?4, updated_at = ?5
       WHERE id = ?1 AND enabled = 1 AND (failing_since <= ?2 OR consecutive_dead >= ?3)
       RETURNING id, tenant_id, url`,
    )
    .bind(id, failingSinceBefore, maxDead, reason, now)
    .first<{ id: string; tenant_id: string; url: string }>();

export const disableDestination = (db: D1Database, id: string, reason: string, now: number) =>
  db
    .prepare(
      "UPDATE destinations SET enabled = 0, disabled_reason = ?2, updated_at = ?3 WHERE id = ?1 AND enabled = 1 RETURNING id, tenant_id, url",
    )
    .bind(id, reason, now);

// ---------- ingest side ----------

export const upsertQuarantine = (db: D1Database, q: Omit<QuarantineRow, "replayed_event_id" | "times_received">) =>
  db
    .prepare(
      `INSERT INTO quarantine (id, tenant_id, kind, received_at, last_received_at, body, issues)
       VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)
       ON CONFLICT (id) DO UPDATE SET times_received = times_received + 1, last_received_at = excluded.last_received_at,
         issues = excluded.issues`,
    )
    .bind(q.id, q.tenant_id, q.kind, q.received_at, q.body, q.issues)
    .run();

export const insertInbox = (
  db: D1Database,
  row: { event_id: string; tenant_id: string; kind: string; type: string; received_at: number; body: string },
) =>
  db
    .prepare(
      "INSERT INTO inbox (event_id, tenant_id, kind, type, received_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(row.event_id, row.tenant_id, row.kind, row.type, row.received_at, row.body)
    .run();

export const inboxBodies = (db: D1Database, eventIds: readonly string[]) =>
  db
    .prepare("SELECT event_id, body FROM inbox WHERE event_id IN (SELECT value FROM json_each(?1))")
    .bind(ids(eventIds))
    .all<{ event_id: string; body: string }>();

export const deleteInbox = (db: D1Database, eventId: string) =>
  db.prepare("DELETE FROM inbox WHERE event_id = ?1").bind(eventId);

export const staleInbox = (db: D1Database, before: number, limit: number) =>
  db
    .prepare("SELECT event_id, tenant_id, kind, type, received_at FROM inbox WHERE received_at <= ?1 LIMIT ?2")
    .bind(before, limit)
    .all<{ event_id: string; tenant_id: string; kind: string; type: string; received_at: number }>();

// ---------- consumer ----------

/**
 * Stores an event once. `seq` numbers the events of one call within a tenant
 * in the order they are stored.
 */
export const insertEvent = (
  db: D1Database,
  e: Omit<EventRow, "payload_state" | "seq">,
  batchNonce: string,
) =>
  db
    .prepare(
      `INSERT INTO events (id, tenant_id, kind, type, received_at, payload, callid, task_id, state, agent,
         phone_masked, call_time, seq, batch_nonce)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
         CASE WHEN ?7 IS NULL THEN NULL
           ELSE (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE tenant_id = ?2 AND callid = ?7) END,
         ?13)
       ON CONFLICT (id) DO NOTHING`,
    )
    .bind(
      e.id,
      e.tenant_id,
      e.kind,
      e.type,
      e.received_at,
      e.payload,
      e.callid,
      e.task_id,
      e.state,
      e.agent,
      e.phone_masked,
      e.call_time,
      batchNonce,
    );

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

export const insertAttempt = (db: D1Database, a: AttemptRow) =>
  db
    .prepare(
      "INSERT INTO attempts (delivery_id, at, status_code, duration_ms, error, response_body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(a.delivery_id, a.at, a.status_code, a.duration_ms, a.error, a.response_body);

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

// ---------- sweep, operator actions ----------

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

export const insertDeadLetter = (db: D1Database, id: string, queue: string, body: string, now: number) =>
  db
    .prepare("INSERT INTO dead_letters (id, queue, body, received_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING")
    .bind(id, queue, body, now);

// ---------- admin reads ----------

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

/**
 * A WHERE clause of only the filters given, with numbered parameters, so that
 * SQLite can pick the index a filter needs (`?n IS NULL OR …` terms defeat
 * every index). SQL text comes from this module, never from a request; a term
 * without placeholders is included when its value is given.
 */
function where(terms: readonly [sql: string, value: unknown][]): { sql: string; values: unknown[] } {
  const given = terms.filter(([, v]) => v !== undefined && v !== null);
  const values: unknown[] = [];
  const parts = given.map(([sql, v]) => {
    const numbered = sql.replace(/\?(\d)/g, (_, n: string) => `?${values.length + Number(n)}`);
    if (/\?\d/.test(sql)) values.push(...(Array.isArray(v) ? v : [v]));
    return numbered;
  });
  return { sql: parts.length ? "WHERE " + parts.join(" AND ") : "", values };
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
      `SELECT id, tenant_id, kind, type, received_at, payload_state, callid, task_id, state, agent, phone_masked,
         call_time, seq
       FROM events ${w.sql}
       ORDER BY received_at DESC, id DESC LIMIT ?${w.values.length + 1}`,
    )
    .bind(...w.values, limit)
    .all<Omit<EventRow, "payload">>();
};

/** An event's deliveries: `range` is the event's span of delivery ids (see deliveryRangeOf). */
export const deliveriesOfEvent = (db: D1Database, range: readonly [string, string]) =>
  db
    .prepare("SELECT * FROM deliveries WHERE id >= ?1 AND id < ?2 ORDER BY created_at, id")
    .bind(range[0], range[1])
    .all<DeliveryRow>();

export const getDelivery = (db: D1Database, id: string) =>
  db.prepare("SELECT * FROM deliveries WHERE id = ?1").bind(id).first<DeliveryRow>();

export const attemptsOf = (db: D1Database, deliveryIds: readonly string[]) =>
  db
    .prepare(
      `SELECT delivery_id, at, status_code, duration_ms, error, response_body FROM attempts
       WHERE delivery_id IN (SELECT value FROM json_each(?1)) ORDER BY at, id`,
    )
    .bind(ids(deliveryIds))
    .all<AttemptRow>();

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

export const listQuarantine = (
  db: D1Database,
  tenant: string | null,
  cursor: { received_at: number; id: string } | null,
  limit: number,
) =>
  db
    .prepare(
      `SELECT * FROM quarantine WHERE (?1 IS NULL OR tenant_id = ?1)
         AND (?2 IS NULL OR received_at < ?2 OR (received_at = ?2 AND id < ?3))
       ORDER BY received_at DESC, id DESC LIMIT ?4`,
    )
    .bind(tenant, cursor?.received_at ?? null, cursor?.id ?? "", limit)
    .all<QuarantineRow>();

export const getQuarantine = (db: D1Database, id: string) =>
  db.prepare("SELECT * FROM quarantine WHERE id = ?1").bind(id).first<QuarantineRow>();

export const markQuarantineReplayed = (db: D1Database, id: string, eventId: string) =>
  db.prepare("UPDATE quarantine SET replayed_event_id = ?2 WHERE id = ?1").bind(id, eventId).run();

export const hourlyStats = (db: D1Database, tenant: string | null, since: number, until: number) =>
  db.batch<{ hour: number; n: number; status?: string }>([
    db
      .prepare(
        `SELECT (received_at / 3600000) * 3600000 AS hour, COUNT(*) AS n FROM events
         WHERE (?1 IS NULL OR tenant_id = ?1) AND received_at >= ?2 AND received_at < ?3 GROUP BY hour`,
      )
      .bind(tenant, since, until),
    db
      .prepare(
        `SELECT (updated_at / 3600000) * 3600000 AS hour, status, COUNT(*) AS n FROM deliveries
         WHERE (?1 IS NULL OR tenant_id = ?1) AND updated_at >= ?2 AND updated_at < ?3
           AND status IN ('delivered', 'failed', 'dead') GROUP BY hour, status`,
      )
      .bind(tenant, since, until),
  ]);

// ---------- privacy ----------

/**
 * SQL for "the column `text` holds the needle `n.value` as a whole number":
 * not inside a longer digit run, which would be somebody else's number.
 * instr() is the cheap first pass; the GLOB checks every occurrence for a
 * non-digit on both sides (the text is padded so that one at either end
 * counts). Needles are digits, spaces, `+`, `(`, `)` and `-`, none of them
 * special to GLOB.
 */
const holdsNumber = (text: string) =>
  `instr(${text}, n.value) > 0 AND (' ' || ${text} || ' ') GLOB ('*[^0-9]' || n.value || '[^0-9]*')`;

/** Replaces every payload holding this number with a tombstone; answers the ids touched. */
export const erasePhone = (db: D1Database, tenantId: string, needles: readonly string[]) =>
  db.batch([
    db
      .prepare(
        `UPDATE events SET payload = NULL, payload_state = 'erased', phone_masked = NULL
         WHERE tenant_id = ?1 AND payload IS NOT NULL
           AND EXISTS (SELECT 1 FROM json_each(?2) n WHERE ${holdsNumber("events.payload")})
         RETURNING id`,
      )
      .bind(tenantId, ids(needles)),
    db
      .prepare(
        `DELETE FROM quarantine WHERE tenant_id = ?1
           AND EXISTS (SELECT 1 FROM json_each(?2) n WHERE ${holdsNumber("quarantine.body")})`,
      )
      .bind(tenantId, ids(needles)),
    db
      .prepare(
        `DELETE FROM inbox WHERE tenant_id = ?1
           AND EXISTS (SELECT 1 FROM json_each(?2) n WHERE ${holdsNumber("inbox.body")})`,
      )
      .bind(tenantId, ids(needles)),
  ]);

/**
 * Retention, in bounded batches so that a backlog never exceeds one
 * invocation's limits. Attempts go with the events being purged (found
 * through their delivery ids' key range), before the payloads themselves.
 */
export const purgeOlderThan = (db: D1Database, before: number, limit: number) =>
  db.batch([
    db
      .prepare(
        `DELETE FROM attempts WHERE delivery_id IN (
           SELECT d.id FROM (SELECT id FROM events WHERE received_at < ?1 AND payload IS NOT NULL LIMIT ?2) e
           JOIN deliveries d ON d.id >= 'dlv_' || substr(e.id, 5) || '_' AND d.id < 'dlv_' || substr(e.id, 5) || '\`')`,
      )
      .bind(before, limit),
    db
      .prepare(
        `UPDATE events SET payload = NULL, payload_state = 'purged'
         WHERE id IN (SELECT id FROM events WHERE received_at < ?1 AND payload IS NOT NULL LIMIT ?2)`,
      )
      .bind(before, limit),
    db
      .prepare("DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE last_received_at < ?1 LIMIT ?2)")
      .bind(before, limit),
  ]);
