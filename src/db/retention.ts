/**
 * Retention, in bounded batches so that a backlog never exceeds one
 * invocation's limits.
 *
 * Attempts go by their own age, walked in rowid order: rowids grow with the
 * time an attempt is recorded, so the oldest `limit` rowids are the ones that
 * can be due, and a run reads at most `limit` rows even when none is. This
 * needs no index on `at` (one more row written per attempt), nor a mark on
 * each event (payloads in R2 are purged without touching their event rows:
 * see payloadStateOf in src/storage/payloads.ts).
 *
 * Payloads still held in D1 (stored before payloads moved to R2) are emptied
 * in place. Dead letters go whole: a callback's dead letter holds its raw body.
 */
export const purgeEventData = (db: D1Database, before: number, limit: number) =>
  db.batch([
    db
      .prepare(
        `DELETE FROM attempts WHERE id IN (
           SELECT id FROM (SELECT id, at FROM attempts ORDER BY id LIMIT ?2) WHERE at < ?1)`,
      )
      .bind(before, limit),
    db
      .prepare(
        `UPDATE events SET payload = NULL, payload_state = 'purged'
         WHERE id IN (SELECT id FROM events WHERE received_at < ?1 AND payload IS NOT NULL LIMIT ?2)`,
      )
      .bind(before, limit),
  ]);

/** Retention in the control database: quarantined bodies and dead letters. */
export const purgeControlData = (db: D1Database, before: number, limit: number) =>
  db.batch([
    db
      .prepare("DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE last_received_at < ?1 LIMIT ?2)")
      .bind(before, limit),
    db
      .prepare("DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE received_at < ?1 LIMIT ?2)")
      .bind(before, limit),
  ]);

/** The events of one tenant's oldest `limit` past `before`, and their deliveries (a key range per event). */
const expiring = `(SELECT id FROM events WHERE tenant_id = ?1 AND received_at < ?2 ORDER BY received_at LIMIT ?3)`;
const theirDeliveries = `SELECT d.id FROM ${expiring} e
  JOIN deliveries d ON d.id >= 'dlv_' || substr(e.id, 5) || '_' AND d.id < 'dlv_' || substr(e.id, 5) || '\`'`;

/**
 * Expiry of event records (METADATA_RETENTION_DAYS): a tenant's oldest
 * events with their deliveries and attempts, `limit` events a batch. Walked
 * per tenant on events_tenant_received, so no index on received_at alone is
 * written for every event just for this.
 */
export const expireEventRecords = (db: D1Database, tenantId: string, before: number, limit: number) =>
  db.batch([
    db.prepare(`DELETE FROM attempts WHERE delivery_id IN (${theirDeliveries})`).bind(tenantId, before, limit),
    db.prepare(`DELETE FROM deliveries WHERE id IN (${theirDeliveries})`).bind(tenantId, before, limit),
    db.prepare(`DELETE FROM events WHERE id IN ${expiring}`).bind(tenantId, before, limit),
  ]);
