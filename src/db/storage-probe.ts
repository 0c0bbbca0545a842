/**
 * Whether D1 takes a write that needs room (an insert, not an update in
 * place): a row written and removed in one transaction.
 */
export const probeWrite = (db: D1Database, now: number) =>
  db.batch([
    db.prepare("INSERT INTO storage_probe (at) VALUES (?1) ON CONFLICT (at) DO NOTHING").bind(now),
    db.prepare("DELETE FROM storage_probe"),
  ]);
