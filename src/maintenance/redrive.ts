import { deadLettersOfKinds, deleteDeadLetters } from "../db/dead-letters";
import { QUEUES } from "../consumer/queue-handler";
import type { Env } from "../env";

/** Dead letters one sweep hands back at most (one sendBatch takes 100 messages). */
export const REDRIVES_PER_SWEEP = 100;

/**
 * Messages that exhausted their queue retries (about half an hour of them) are
 * work still owed, not history: a callback dead-lettered while R2 was down for
 * longer than that was never stored, and an erasure or an operator job cut off
 * there would stay half done. Each sweep hands them back to their queue,
 * oldest first, and deletes their dead letters once the queue has them again
 * (a crash in between sends one twice, which storage and jobs absorb). One
 * that keeps failing comes back as a new dead letter half an hour later; the
 * log says each time. Deliveries are not handed back: D1 still holds them as
 * due, and the sweep sends them again itself.
 */
export async function redriveDeadLetters(env: Env): Promise<number> {
  const lanes = [
    { kinds: ["callback"], queue: env.CALLBACKS_QUEUE as Queue<unknown> },
    { kinds: ["job", "erase"], queue: env.DELIVERIES_QUEUE as Queue<unknown> },
  ];
  let handedBack = 0;
  for (const { kinds, queue } of lanes) {
    const rows = (await deadLettersOfKinds(env.DB, QUEUES.deadLetters, kinds, REDRIVES_PER_SWEEP)).results;
    if (rows.length === 0) continue;
    await queue.sendBatch(rows.map((r) => ({ body: JSON.parse(r.body) as unknown, contentType: "json" as const })));
    await deleteDeadLetters(env.DB, rows.map((r) => r.id)).run();
    const events = rows.map((r) => (JSON.parse(r.body) as { event_id?: unknown }).event_id).filter((id) => typeof id === "string");
    console.warn(JSON.stringify({ level: "warn", msg: "dead letters handed back to their queue", kinds, ids: rows.map((r) => r.id), events }));
    handedBack += rows.length;
  }
  return handedBack;
}
