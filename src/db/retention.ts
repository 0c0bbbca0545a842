import { ids } from "./sql";

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

/**
 * Up to `limit` events past `before` of these tenants: for each tenant a range
 * of events_tenant_received, so that no index on received_at alone is written
 * for every event just for this. In no particular order: all of them are due.
 */
const expiring = `(SELECT e.id FROM json_each(?1) t JOIN events e ON e.tenant_id = t.value AND e.received_at < ?2 LIMIT ?3)`;
/** Their deliveries: a key range of `deliveries` per event. */
const theirDeliveries = `SELECT d.id FROM ${expiring} e
  JOIN deliveries d ON d.id >= 'dlv_' || substr(e.id, 5) || '_' AND d.id < 'dlv_' || substr(e.id, 5) || '\`'`;

/**
 * Expiry of event records (METADATA_RETENTION_DAYS): up to `limit` events of
 * these tenants with their deliveries and attempts, in one transaction, so
 * that a sweep makes one call per shard for a hundred tenants rather than
 * one per tenant (D1 allows an invocation a thousand).
 */
export const expireEventRecords = (db: D1Database, tenantIds: readonly string[], before: number, limit: number) =>
  db.batch([
    db.prepare(`DELETE FROM attempts WHERE delivery_id IN (${theirDeliveries})`).bind(ids(tenantIds), before, limit),
    db.prepare(`DELETE FROM deliveries WHERE id IN (${theirDeliveries})`).bind(ids(tenantIds), before, limit),
    db.prepare(`DELETE FROM events WHERE id IN ${expiring}`).bind(ids(tenantIds), before, limit),
  ]);
