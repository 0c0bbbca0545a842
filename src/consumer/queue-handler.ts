import type { z } from "zod";
import type { Env } from "../env";
import { callbackMessageSchema, deliveryMessageSchema } from "../queue-messages";
import { recordDeadLetters } from "./dead-letters";
import { runDeliveries } from "./run-deliveries";
import { storeCallbacks } from "./store-callbacks";

/** Queue names as configured in wrangler.toml. */
export const QUEUES = {
  callbacks: "airudder-relay-callbacks",
  deliveries: "airudder-relay-deliveries",
  deadLetters: "airudder-relay-dead-letters",
} as const;

/**
 * Splits off messages that are not of the queue's kind. They are retried
 * (and so, after max_retries, recorded by the dead-letter consumer) rather
 * than acked and lost.
 */
function wellFormed<S extends z.ZodType>(messages: readonly Message<unknown>[], schema: S): Message<z.infer<S>>[] {
  return messages.filter((m) => {
    if (schema.safeParse(m.body).success) return true;
    console.error(JSON.stringify({ level: "error", msg: "malformed queue message", id: m.id }));
    m.retry();
    return false;
  }) as Message<z.infer<S>>[];
}

/**
 * Every ack and retry is decided here or below, message by message. A batch
 * that throws is retried with a growing delay: storage and claims are
 * idempotent, so a retry finishes what the first try started and never
 * repeats an attempt.
 */
export async function handleQueue(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
  let run: () => Promise<void>;
  switch (batch.queue) {
    case QUEUES.callbacks:
      run = () => storeCallbacks(wellFormed(batch.messages, callbackMessageSchema), env, ctx);
      break;
    case QUEUES.deliveries:
      run = () => runDeliveries(wellFormed(batch.messages, deliveryMessageSchema), env, ctx);
      break;
    case QUEUES.deadLetters:
      run = () => recordDeadLetters(batch.queue, batch.messages, env);
      break;
    default:
      throw new Error(`unknown queue ${batch.queue}`);
  }
  try {
    await run();
  } catch (err) {
    console.error(JSON.stringify({ level: "error", msg: "queue batch failed; retrying", queue: batch.queue, size: batch.messages.length, error: String(err) }));
    for (const m of batch.messages) m.retry({ delaySeconds: Math.min(300, 5 * 2 ** Math.min(m.attempts, 6)) });
  }
}
