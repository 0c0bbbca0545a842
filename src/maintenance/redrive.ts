import { deadLettersToRedrive, deleteDeadLetters, resetRedrives, type DeadLetterRow } from "../db/dead-letters";
import { QUEUES } from "../consumer/queue-handler";
import type { Env } from "../env";
import { MAX_REDRIVES, REDRIVEN } from "../queue-messages";

const CALLBACK_KINDS = ["callback"] as const;
const DELIVERIES_QUEUE_KINDS = ["job", "erase"] as const;
const HANDED_BACK: readonly string[] = [...CALLBACK_KINDS, ...DELIVERIES_QUEUE_KINDS];

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
    { kinds: CALLBACK_KINDS, queue: env.CALLBACKS_QUEUE as Queue<unknown> },
    { kinds: DELIVERIES_QUEUE_KINDS, queue: env.DELIVERIES_QUEUE as Queue<unknown> },
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

/** What will become of a dead letter, as the operator's page says it. */
export type DeadLetterState = "handed back next sweep" | "kept" | "due in D1" | "unreadable";

export function deadLetterState(row: DeadLetterRow): DeadLetterState {
  if (row.queue !== QUEUES.deadLetters) return "unreadable";
  if (row.kind === "delivery") return "due in D1";
  if (row.kind === null || !HANDED_BACK.includes(row.kind)) return "unreadable";
  return (row.redriven ?? 0) < MAX_REDRIVES ? "handed back next sweep" : "kept";
}

/**
 * An operator's "hand back again" of a dead letter kept after MAX_REDRIVES
 * (the defect that kept failing it fixed): its count starts over, and the
 * next sweep hands it back. False when it is not one the sweep hands back.
 */
export async function handBackAgain(env: Env, id: string): Promise<boolean> {
  const result = await resetRedrives(env.DB, id, QUEUES.deadLetters, HANDED_BACK, REDRIVEN).run();
  return result.meta.changes > 0;
}
