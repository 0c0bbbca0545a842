export type AttemptTrigger = "first" | "retry" | "operator";
export type AttemptOutcomeName = "delivered" | "failed" | "dead" | "held";

export interface AttemptCount {
  hour: number;
  tenant_id: string;
  trigger: AttemptTrigger;
  outcome: AttemptOutcomeName;
  n: number;
}

export const HOUR_MS = 3_600_000;

/** Adds recorded attempts to their hour's counters: one row write per (tenant, hour, trigger, outcome) in the batch. */
export const countAttempts = (db: D1Database, counts: readonly AttemptCount[]) =>
  db
    .prepare(
      `INSERT INTO attempt_counts (hour, tenant_id, trigger, outcome, n)
       SELECT json_extract(value, '$.hour'), json_extract(value, '$.tenant_id'), json_extract(value, '$.trigger'),
         json_extract(value, '$.outcome'), json_extract(value, '$.n')
       FROM json_each(?1) WHERE true
       ON CONFLICT (hour, tenant_id, trigger, outcome) DO UPDATE SET n = n + excluded.n`,
    )
    .bind(JSON.stringify(counts));

/** Events received per hour (an event shard). */
export const hourlyReceived = (db: D1Database, tenant: string | null, since: number, until: number) =>
  db
    .prepare(
      `SELECT (received_at / ${HOUR_MS}) * ${HOUR_MS} AS hour, COUNT(*) AS n FROM events
       WHERE (?1 IS NULL OR tenant_id = ?1) AND received_at >= ?2 AND received_at < ?3 GROUP BY hour`,
    )
    .bind(tenant, since, until)
    .all<{ hour: number; n: number }>();

/** Attempts per hour, trigger and outcome, in one database: an event shard, or the control database (counts from before they moved to the shards). */
export const hourlyAttempts = (db: D1Database, tenant: string | null, since: number, until: number) =>
  db
    .prepare(
      `SELECT hour, trigger, outcome, SUM(n) AS n FROM attempt_counts
       WHERE (?1 IS NULL OR tenant_id = ?1) AND hour >= (?2 / ${HOUR_MS}) * ${HOUR_MS} AND hour < ?3
       GROUP BY hour, trigger, outcome`,
    )
    .bind(tenant, since, until)
    .all<{ hour: number; n: number; trigger: AttemptTrigger; outcome: AttemptOutcomeName }>();
