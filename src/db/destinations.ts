import { ids } from "./sql";

export const rateLimitPeriods = { second: 1000, minute: 60_000, hour: 3_600_000 } as const;
export type RateLimitPeriod = keyof typeof rateLimitPeriods;

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
  rate_limit: number | null;
  rate_limit_period: RateLimitPeriod | null;
  created_at: number;
  updated_at: number;
}

export const insertDestination = (db: D1Database, d: DestinationRow) =>
  db
    .prepare(
      `INSERT INTO destinations (id, tenant_id, url, event_types, filter, format, secret_enc, headers_enc,
         enabled, disabled_reason, created_at, updated_at, rate_limit, rate_limit_period)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)`,
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
      d.rate_limit,
      d.rate_limit_period,
    )
    .run();

export const getDestination = (db: D1Database, id: string) =>
  db.prepare("SELECT * FROM destinations WHERE id = ?1").bind(id).first<DestinationRow>();

export const listDestinations = (db: D1Database, tenantId: string, afterId: string, limit: number) =>
  db
    .prepare("SELECT * FROM destinations WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3")
    .bind(tenantId, afterId, limit)
    .all<DestinationRow>();

/** The columns that hold sealed values (src/crypto/secret-box.ts). */
export const sealedColumns = ["secret_enc", "previous_secret_enc", "headers_enc"] as const;
export type SealedColumn = (typeof sealedColumns)[number];

/**
 * Writes values sealed again under a new key, each only where its column
 * still holds the value that was opened, so that a rotation or an edit made
 * meanwhile is never overwritten with older content.
 */
export const replaceSealedValues = (db: D1Database, id: string, values: Partial<Record<SealedColumn, { from: string; to: string }>>) => {
  const statements = sealedColumns.flatMap((column) => {
    const value = values[column];
    return value ? [db.prepare(`UPDATE destinations SET ${column} = ?2 WHERE id = ?1 AND ${column} = ?3`).bind(id, value.to, value.from)] : [];
  });
  return statements.length > 0 ? db.batch(statements) : Promise.resolve([]);
};

export const destinationsOfTenants = (db: D1Database, tenantIds: readonly string[]) =>
  db
    .prepare("SELECT * FROM destinations WHERE tenant_id IN (SELECT value FROM json_each(?1))")
    .bind(ids(tenantIds));

export const destinationsByIds = (db: D1Database, destinationIds: readonly string[]) =>
  db.prepare("SELECT * FROM destinations WHERE id IN (SELECT value FROM json_each(?1))").bind(ids(destinationIds));

export const updateDestination = (
  db: D1Database,
  id: string,
  fields: Partial<Pick<DestinationRow, "url" | "event_types" | "filter" | "format" | "headers_enc" | "enabled" | "disabled_reason" | "rate_limit" | "rate_limit_period">>,
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

/** Removes the destination; its open deliveries are abandoned in chunks afterwards (src/delivery/operator.ts). */
export const deleteDestination = (db: D1Database, id: string) =>
  db.prepare("DELETE FROM destinations WHERE id = ?1").bind(id).run();

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

/**
 * Reserves up to `wanted` send slots `intervalMs` apart, none later than
 * `now + horizonMs`, in one UPDATE: D1 applies writes one at a time, so two
 * invocations never get the same slot (a generic cell rate algorithm kept
 * in the destination's row). Answers the first slot and how many were granted.
 */
export const reserveSendSlots = (
  db: D1Database,
  id: string,
  wanted: number,
  intervalMs: number,
  horizonMs: number,
  now: number,
) =>
  db
    .prepare(
      `UPDATE destinations SET
         rate_granted = MIN(?2, MAX(0, CAST((?4 + ?5 - MAX(COALESCE(rate_next_at, 0), ?4)) / ?3 AS INTEGER) + 1)),
         rate_next_at = MAX(COALESCE(rate_next_at, 0), ?4)
           + ?3 * MIN(?2, MAX(0, CAST((?4 + ?5 - MAX(COALESCE(rate_next_at, 0), ?4)) / ?3 AS INTEGER) + 1))
       WHERE id = ?1
       RETURNING rate_next_at - ?3 * rate_granted AS first_at, rate_granted AS granted, rate_next_at AS next_free_at`,
    )
    .bind(id, wanted, intervalMs, now, horizonMs)
    .first<{ first_at: number; granted: number; next_free_at: number }>();

/** Destinations that are paused (by an operator, a tenant or the relay), with why. */
export const pausedDestinations = (db: D1Database, tenant: string | null) =>
  db
    .prepare("SELECT * FROM destinations WHERE enabled = 0 AND (?1 IS NULL OR tenant_id = ?1) ORDER BY updated_at DESC LIMIT 200")
    .bind(tenant)
    .all<DestinationRow>();

/** Every enabled destination's id: what the sweep looks for held deliveries of, in each shard. */
export const enabledDestinationIds = (db: D1Database) =>
  db.prepare("SELECT id FROM destinations WHERE enabled = 1").all<{ id: string }>();
