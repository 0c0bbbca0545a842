import { insertDeadLetter } from "../db/dead-letters";
import type { Env } from "../env";

/**
 * Messages that exhausted their queue retries. They are recorded, not
 * dropped: a callback here is also visible to the operator, and deliveries
 * stay due in D1, where the sweep finds them.
 */
export async function recordDeadLetters(queue: string, messages: readonly Message<unknown>[], env: Env): Promise<void> {
  const now = Date.now();
  await env.DB.batch(
    messages.map((m) => insertDeadLetter(env.DB, m.id, queue, JSON.stringify(m.body), now)),
  );
  for (const m of messages) m.ack();
}
