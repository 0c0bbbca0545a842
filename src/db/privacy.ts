import { ids } from "./sql";

/** The tables an erase walks, in the order it walks them. */
export const ERASE_TABLES = ["events", "quarantine", "inbox", "dead_letters"] as const;
export type EraseTable = (typeof ERASE_TABLES)[number];

/** The last row a page covered, in (received_at, key) order: the next page starts after it. */
export interface ErasePosition {
  received_at: number;
  id: string;
}

const BEFORE_EVERY_ROW: ErasePosition = { received_at: -1, id: "" };

/**
 * SQL for "the column `text` holds one of the needles in ?5 as a whole
 * number": not inside a longer digit run, which would be somebody else's
 * number. instr() is the cheap first pass; the GLOB checks every occurrence
 * for a non-digit on both sides (the text is padded so that one at either end
 * counts). Needles are digits, spaces, `+`, `(`, `)` and `-`, none of them
 * special to GLOB.
 */
const holdsNumber = (text: string) =>
  `EXISTS (SELECT 1 FROM json_each(?5) n
           WHERE instr(${text}, n.value) > 0 AND (' ' || ${text} || ' ') GLOB ('*[^0-9]' || n.value || '[^0-9]*'))`;

/**
 * One page of each table as (k, received_at, text): at most ?4 rows after
 * (?2, ?3) in (received_at, key) order, so that a page reads only its own rows
 * off an index and a row that arrives during the walk is still reached.
 */
const pages: Record<Exclude<EraseTable, "events">, string> = {
  // quarantine_tenant_received (tenant_id, received_at).
  quarantine: `SELECT id AS k, received_at, body AS text FROM quarantine
               WHERE tenant_id = ?1 AND (received_at, id) > (?2, ?3) ORDER BY received_at, id LIMIT ?4`,
  // No index: the inbox only holds bodies the consumer has not stored yet
  // (seconds, or a minute until the sweep), so it is small.
  inbox: `SELECT event_id AS k, received_at, body AS text FROM inbox
          WHERE tenant_id = ?1 AND (received_at, event_id) > (?2, ?3) ORDER BY received_at, event_id LIMIT ?4`,
  // dead_letters_received. A dead letter has no tenant column (its body is a
  // queue message, with tenant_id inside), so the page covers every tenant's
  // rows and the tenant is matched with the number.
  dead_letters: `SELECT id AS k, received_at, body AS text FROM dead_letters
                 WHERE (received_at, id) > (?2, ?3) ORDER BY received_at, id LIMIT ?4`,
};

const erasures: Record<Exclude<EraseTable, "events">, string> = {
  quarantine: `DELETE FROM quarantine WHERE id IN (SELECT k FROM (${pages.quarantine}) p WHERE ${holdsNumber("p.text")})`,
  inbox: `DELETE FROM inbox WHERE event_id IN (SELECT k FROM (${pages.inbox}) p WHERE ${holdsNumber("p.text")})`,
  dead_letters: `DELETE FROM dead_letters WHERE id IN (
                   SELECT k FROM (${pages.dead_letters}) p
                   WHERE json_extract(p.text, '$.tenant_id') = ?1 AND ${holdsNumber("p.text")})`,
};

/**
 * The attempts of these events (a JSON list in ?1): a CRM's answer may echo
 * the payload. An event's deliveries are the key range of `dlv_<event hash>_`.
 */
const clearAttempts = `UPDATE attempts SET response_body = NULL
  WHERE response_body IS NOT NULL AND delivery_id IN (
    SELECT d.id FROM json_each(?1) e
    JOIN deliveries d ON d.id >= 'dlv_' || substr(e.value, 5) || '_' AND d.id < 'dlv_' || substr(e.value, 5) || '\`')`;

const eraseEvents = `UPDATE events SET payload = NULL, payload_ref = NULL, payload_state = 'erased', phone_masked = NULL
  WHERE id IN (SELECT value FROM json_each(?1)) AND payload_state = 'kept'
  RETURNING id`;

/** A row of an events page: whether its D1-held payload holds the number, or where its R2-held one is. */
export interface EventErasePageRow {
  id: string;
  received_at: number;
  /** Set for a kept payload in R2, which the caller reads and tests itself. */
  payload_ref: string | null;
  holds: number;
}

/**
 * One page of a tenant's events for an erase. A payload still in D1 (stored
 * before payloads moved to R2) is tested here; one in R2 is the caller's to
 * read and test, and `eraseEvents` then takes the ids of both kinds.
 */
export async function eventsErasePage(
  db: D1Database,
  tenantId: string,
  needles: readonly string[],
  after: ErasePosition | undefined,
  limit: number,
): Promise<{ rows: EventErasePageRow[]; next: ErasePosition | null }> {
  const from = after ?? BEFORE_EVERY_ROW;
  const { results } = await db
    .prepare(
      `SELECT k AS id, received_at, CASE WHEN state = 'kept' THEN ref END AS payload_ref,
         COALESCE(${holdsNumber("p.text")}, 0) AS holds
       -- events_tenant_received (tenant_id, received_at).
       FROM (SELECT id AS k, received_at, payload AS text, payload_ref AS ref, payload_state AS state FROM events
             WHERE tenant_id = ?1 AND (received_at, id) > (?2, ?3) ORDER BY received_at, id LIMIT ?4) p
       ORDER BY received_at, k`,
    )
    .bind(tenantId, from.received_at, from.id, limit, ids(needles))
    .all<EventErasePageRow>();
  const end = results.at(-1);
  return { rows: results, next: end && results.length === limit ? { received_at: end.received_at, id: end.id } : null };
}

/**
 * Erases these events: a tombstone payload (metadata kept), and their
 * attempts lose the CRM's answer. One batch, so that it is done whole or not
 * at all; answers the events it erased (not those erased before).
 */
export async function eraseEventsById(db: D1Database, eventIds: readonly string[]): Promise<string[]> {
  if (eventIds.length === 0) return [];
  const [, erased] = await db.batch<{ id: string }>([
    db.prepare(clearAttempts).bind(ids(eventIds)),
    db.prepare(eraseEvents).bind(ids(eventIds)),
  ]);
  return erased!.results.map((r) => r.id);
}

/** The page's last row, and how many rows it has: a full page may have more after it. */
const lastOf = (page: string) =>
  `WITH p AS (${page}) SELECT k AS id, received_at, (SELECT COUNT(*) FROM p) AS n FROM p ORDER BY received_at DESC, k DESC LIMIT 1`;

/**
 * Erases the number from one page of a table other than events: a
 * quarantined, inbox or dead-letter row holding it is deleted. One batch, so
 * that a page is done whole or not at all and a retry can redo it.
 */
export async function erasePage(
  db: D1Database,
  table: Exclude<EraseTable, "events">,
  tenantId: string,
  needles: readonly string[],
  after: ErasePosition | undefined,
  limit: number,
): Promise<ErasePosition | null> {
  const from = after ?? BEFORE_EVERY_ROW;
  const page = [tenantId, from.received_at, from.id, limit] as const;
  const last = db.prepare(lastOf(pages[table])).bind(...page);
  const erase = (sql: string) => db.prepare(sql).bind(...page, ids(needles));
  const [boundary] = await db.batch<{ id: string; received_at: number; n: number }>([last, erase(erasures[table])]);
  const end = boundary!.results[0];
  return end && end.n === limit ? { received_at: end.received_at, id: end.id } : null;
}
