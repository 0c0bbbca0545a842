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
