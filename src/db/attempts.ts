import { ids } from "./sql";

export interface AttemptRow {
  delivery_id: string;
  at: number;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  response_body: string | null;
}

export const insertAttempt = (db: D1Database, a: AttemptRow) =>
  db
    .prepare(
      "INSERT INTO attempts (delivery_id, at, status_code, duration_ms, error, response_body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(a.delivery_id, a.at, a.status_code, a.duration_ms, a.error, a.response_body);

export const attemptsOf = (db: D1Database, deliveryIds: readonly string[]) =>
  db
    .prepare(
      `SELECT delivery_id, at, status_code, duration_ms, error, response_body FROM attempts
       WHERE delivery_id IN (SELECT value FROM json_each(?1)) ORDER BY at, id`,
    )
    .bind(ids(deliveryIds))
    .all<AttemptRow>();
