export interface TenantRow {
  id: string;
  name: string;
  token_hash: string;
  created_at: number;
}

export const getTenantTokenHash = (db: D1Database, id: string) =>
  db.prepare("SELECT token_hash FROM tenants WHERE id = ?1").bind(id).first<{ token_hash: string }>();

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

export const updateTenantToken = (db: D1Database, id: string, tokenHash: string) =>
  db.prepare("UPDATE tenants SET token_hash = ?2 WHERE id = ?1").bind(id, tokenHash).run();
