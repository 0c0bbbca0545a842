import { deadLettersToRedrive, deleteDeadLetters } from "../db/dead-letters";
import { QUEUES } from "../consumer/queue-handler";
import type { Env } from "../env";
import { MAX_REDRIVES, REDRIVEN } from "../queue-messages";

/** Dead letters one sweep hands back at most, per queue (one sendBatch takes 100 messages). */
export const REDRIVES_PER_SWEEP = 100;

/**
 * Messages that exhausted their queue retries are work still owed, not
 * history: a callback dead-lettered while R2 was down for longer than its
 * retries was never stored (or its inline first attempt never recorded), and
 * an erasure or operator job cut off there would stay half done. Each sweep
 * hands them back to their queue, oldest first, and deletes their dead
 * letters once the queue has them again (a crash in between sends one twice,
 * which storage and jobs absorb). A message that does not fit its queue's
 * shape is recorded by that queue's consumer as unreadable and never comes
 * back. Deliveries are not handed back: D1 still holds them as due, and the
 * sweep sends them itself.
 */
export async function redriveDeadLetters(env: Env): Promise<number> {
  const lanes = [
    { kinds: ["callback"], queue: env.CALLBACKS_QUEUE as Queue<unknown> },
    { kinds: ["job", "erase"], queue: env.DELIVERIES_QUEUE as Queue<unknown> },
  ];
  let handedBack = 0;
  for (const { kinds, queue } of lanes) {
    const rows = (await deadLettersToRedrive(env.DB, QUEUES.deadLetters, kinds, REDRIVEN, MAX_REDRIVES, REDRIVES_PER_SWEEP)).results;
    if (rows.length === 0) continue;
    const bodies = rows.map((r) => JSON.parse(r.body) as Record<string, unknown>);
    await queue.sendBatch(
      bodies.map((body) => ({ body: { ...body, [REDRIVEN]: (Number(body[REDRIVEN]) || 0) + 1 }, contentType: "json" as const })),
    );
    await deleteDeadLetters(env.DB, rows.map((r) => r.id)).run();
    const events = bodies.map((b) => b.event_id).filter((id) => typeof id === "string");
    console.warn(JSON.stringify({ level: "warn", msg: "dead letters handed back to their queue", kinds, dead_letters: rows.map((r) => r.id), events }));
    handedBack += rows.length;
  }
  return handedBack;
}
