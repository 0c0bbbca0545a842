export interface TenantRow {
  id: string;
  name: string;
  token_hash: string;
  created_at: number;
}

/** The one rule for a tenant id: it is part of every callback URL, so it stays URL-safe and short. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export const isTenantId = (id: string) => TENANT_ID_PATTERN.test(id);

/** The hashes an ingest token is checked against: the current one, and the previous one until it expires. */
export interface TenantTokens {
  token_hash: string;
  previous_token_hash: string | null;
  previous_token_expires_at: number | null;
}

export const getTenantTokens = (db: D1Database, id: string) =>
  db
    .prepare("SELECT token_hash, previous_token_hash, previous_token_expires_at FROM tenants WHERE id = ?1")
    .bind(id)
    .first<TenantTokens>();

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

/**
 * Makes `tokenHash` the tenant's token; the one it replaces keeps working
 * until `previousExpiresAt` (`null`: not at all).
 */
export const rotateTenantToken = (db: D1Database, id: string, tokenHash: string, previousExpiresAt: number | null) =>
  db
    .prepare(
      `UPDATE tenants SET previous_token_hash = CASE WHEN ?3 IS NULL THEN NULL ELSE token_hash END,
         previous_token_expires_at = ?3, token_hash = ?2 WHERE id = ?1`,
    )
    .bind(id, tokenHash, previousExpiresAt)
    .run();
