import { insertDeadLetter } from "../db/dead-letters";
import type { Env } from "../env";
import { redrivesSpent, REDRIVEN } from "../queue-messages";
import { spoolDeadLetters } from "../storage/outage";

/**
 * Messages that exhausted their queue retries. They are recorded, not
 * dropped: the sweep hands callbacks, jobs and erasures back to their queue
 * (src/maintenance/redrive.ts) a few times, and deliveries stay due in D1,
 * where the sweep finds them. One handed back as often as it will be stays
 * here for the operator, and the log says so.
 */
export async function recordDeadLetters(queue: string, messages: readonly Message<unknown>[], env: Env): Promise<void> {
  const now = Date.now();
  try {
    await env.DB.batch(messages.map((m) => insertDeadLetter(env.DB, m.id, queue, JSON.stringify(m.body) ?? "undefined", now)));
  } catch (err) {
    // The last stop must not depend on D1: kept in R2, recorded in D1 by the sweep later.
    console.error(JSON.stringify({ level: "error", msg: "D1 refused dead letters; kept in R2", count: messages.length, error: String(err) }));
    await spoolDeadLetters(env, queue, messages, now);
  }
  const kept = messages.filter((m) => redrivesSpent(m.body));
  if (kept.length) {
    console.error(
      JSON.stringify({
        level: "error",
        msg: "messages kept as dead letters: handed back to their queue as often as they will be, they still failed",
        [REDRIVEN]: kept.map((m) => (m.body as Record<string, unknown>)[REDRIVEN]),
        dead_letters: kept.map((m) => m.id),
        events: kept.map((m) => (m.body as { event_id?: unknown }).event_id).filter((id) => typeof id === "string"),
      }),
    );
  }
  for (const m of messages) m.ack();
}
