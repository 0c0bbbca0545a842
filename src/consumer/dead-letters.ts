import { insertDeadLetter } from "../db/dead-letters";
import type { Env } from "../env";
import { spoolDeadLetters } from "../storage/outage";

/**
 * Messages that exhausted their queue retries. They are recorded, not
 * dropped: a callback here is also visible to the operator, and deliveries
 * stay due in D1, where the sweep finds them.
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
  for (const m of messages) m.ack();
}
