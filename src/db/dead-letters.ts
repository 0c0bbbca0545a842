export const insertDeadLetter = (db: D1Database, id: string, queue: string, body: string, now: number) =>
  db
    .prepare("INSERT INTO dead_letters (id, queue, body, received_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING")
    .bind(id, queue, body, now);
