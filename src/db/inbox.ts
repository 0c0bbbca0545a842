import { ids } from "./sql";

export const insertInbox = (
  db: D1Database,
  row: { event_id: string; tenant_id: string; kind: string; type: string; received_at: number; body: string },
) =>
  db
    .prepare(
      "INSERT INTO inbox (event_id, tenant_id, kind, type, received_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(row.event_id, row.tenant_id, row.kind, row.type, row.received_at, row.body)
    .run();

export const inboxBodies = (db: D1Database, eventIds: readonly string[]) =>
  db
    .prepare("SELECT event_id, body FROM inbox WHERE event_id IN (SELECT value FROM json_each(?1))")
    .bind(ids(eventIds))
    .all<{ event_id: string; body: string }>();

export const deleteInbox = (db: D1Database, eventId: string) =>
  db.prepare("DELETE FROM inbox WHERE event_id = ?1").bind(eventId);

export const staleInbox = (db: D1Database, before: number, limit: number) =>
  db
    .prepare("SELECT event_id, tenant_id, kind, type, received_at FROM inbox WHERE received_at <= ?1 LIMIT ?2")
    .bind(before, limit)
    .all<{ event_id: string; tenant_id: string; kind: string; type: string; received_at: number }>();
