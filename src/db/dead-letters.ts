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
