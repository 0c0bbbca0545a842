export interface QuarantineRow {
  id: string;
  tenant_id: string;
  kind: string;
  received_at: number;
  last_received_at: number;
  times_received: number;
  body: string;
  issues: string;
  replayed_event_id: string | null;
}

export const upsertQuarantine = (db: D1Database, q: Omit<QuarantineRow, "replayed_event_id" | "times_received">) =>
  db
    .prepare(
      `INSERT INTO quarantine (id, tenant_id, kind, received_at, last_received_at, body, issues)
       VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)
       ON CONFLICT (id) DO UPDATE SET times_received = times_received + 1, last_received_at = excluded.last_received_at,
         issues = excluded.issues`,
    )
    .bind(q.id, q.tenant_id, q.kind, q.received_at, q.body, q.issues)
    .run();

export const listQuarantine = (
  db: D1Database,
  tenant: string | null,
  cursor: { received_at: number; id: string } | null,
  limit: number,
) =>
  db
    .prepare(
      `SELECT * FROM quarantine WHERE (?1 IS NULL OR tenant_id = ?1)
         AND (?2 IS NULL OR received_at < ?2 OR (received_at = ?2 AND id < ?3))
       ORDER BY received_at DESC, id DESC LIMIT ?4`,
    )
    .bind(tenant, cursor?.received_at ?? null, cursor?.id ?? "", limit)
    .all<QuarantineRow>();

export const getQuarantine = (db: D1Database, id: string) =>
  db.prepare("SELECT * FROM quarantine WHERE id = ?1").bind(id).first<QuarantineRow>();

export const markQuarantineReplayed = (db: D1Database, id: string, eventId: string) =>
  db.prepare("UPDATE quarantine SET replayed_event_id = ?2 WHERE id = ?1").bind(id, eventId).run();
