import { ids } from "./sql";

export const insertDeadLetter = (db: D1Database, id: string, queue: string, body: string, now: number) =>
  db
    .prepare("INSERT INTO dead_letters (id, queue, body, received_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING")
    .bind(id, queue, body, now);

/**
 * The oldest dead letters of `queue` whose message is of one of these kinds
 * (its `t`) and has been handed back fewer than `maxRedrives` times (its
 * `redrivenField`).
 */
export const deadLettersToRedrive = (
  db: D1Database,
  queue: string,
  kinds: readonly string[],
  redrivenField: string,
  maxRedrives: number,
  limit: number,
) =>
  db
    .prepare(
      `SELECT id, body FROM dead_letters
       WHERE queue = ?1 AND json_valid(body) AND json_type(body) = 'object'
         AND body ->> '$.t' IN (SELECT value FROM json_each(?2))
         AND coalesce(body ->> ('$.' || ?3), 0) < ?4
       ORDER BY received_at LIMIT ?5`,
    )
    .bind(queue, ids(kinds), redrivenField, maxRedrives, limit)
    .all<{ id: string; body: string }>();

export const deleteDeadLetters = (db: D1Database, deadLetterIds: readonly string[]) =>
  db.prepare("DELETE FROM dead_letters WHERE id IN (SELECT value FROM json_each(?1))").bind(ids(deadLetterIds));

export interface DeadLetterRow {
  id: string;
  queue: string;
  received_at: number;
  /** The message's `t`, when its body is a JSON object. */
  kind: string | null;
  event_id: string | null;
  tenant_id: string | null;
  redriven: number | null;
}

/** What a page shows of dead letters, newest first: never the body, which can hold a callback's phone numbers. */
export const listDeadLetters = (db: D1Database, cursor: { received_at: number; id: string } | null, limit: number) =>
  db
    .prepare(
      `SELECT id, queue, received_at, o ->> '$.t' AS kind, o ->> '$.event_id' AS event_id, o ->> '$.tenant_id' AS tenant_id,
         o ->> '$.redriven' AS redriven
       FROM (SELECT *, CASE WHEN json_valid(body) AND json_type(body) = 'object' THEN body END AS o FROM dead_letters)
       WHERE ?1 IS NULL OR received_at < ?1 OR (received_at = ?1 AND id < ?2)
       ORDER BY received_at DESC, id DESC LIMIT ?3`,
    )
    .bind(cursor?.received_at ?? null, cursor?.id ?? "", limit)
    .all<DeadLetterRow>();

export const countDeadLetters = (db: D1Database) => db.prepare("SELECT COUNT(*) AS n FROM dead_letters").first<number>("n");

/** Forgets how many times a dead letter of `queue` and of one of these kinds was handed back, so that the sweep hands it back again. */
export const resetRedrives = (db: D1Database, id: string, queue: string, kinds: readonly string[], redrivenField: string) =>
  db
    .prepare(
      `UPDATE dead_letters SET body = json_remove(body, '$.' || ?4)
       WHERE id = ?1 AND queue = ?2 AND json_valid(body) AND json_type(body) = 'object'
         AND body ->> '$.t' IN (SELECT value FROM json_each(?3))`,
    )
    .bind(id, queue, ids(kinds), redrivenField);
