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

const retryDelay = (m: Message<unknown>) => ({ delaySeconds: Math.min(300, 5 * 2 ** Math.min(m.attempts, 6)) });

/**
 * Every ack and retry is decided here or below, message by message. A batch
 * that throws is tried again one message at a time, so that one callback D1
 * cannot take (a poison message) does not drag the other 99 to the
 * dead-letter queue; a message that fails alone is retried with a growing
 * delay. Storage and claims are idempotent, so a second try only finishes
 * what the first started and never repeats an attempt.
 */
export async function handleQueue(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
  let run: (messages: readonly Message<unknown>[]) => Promise<void>;
  switch (batch.queue) {
    case QUEUES.callbacks:
      run = (messages) => storeCallbacks(wellFormed(messages, callbackMessageSchema), env, ctx);
      break;
    case QUEUES.deliveries:
      run = (messages) => runDeliveries(wellFormed(messages, deliveryMessageSchema), env, ctx);
      break;
    case QUEUES.deadLetters:
      run = (messages) => recordDeadLetters(batch.queue, messages, env);
      break;
    default:
      throw new Error(`unknown queue ${batch.queue}`);
  }
  try {
    await run(batch.messages);
    return;
  } catch (err) {
    console.error(JSON.stringify({ level: "error", msg: "queue batch failed; trying its messages one by one", queue: batch.queue, size: batch.messages.length, error: String(err) }));
  }
  if (batch.messages.length === 1) {
    batch.messages[0]!.retry(retryDelay(batch.messages[0]!));
    return;
  }
  for (const m of batch.messages) {
    try {
      await run([m]);
    } catch (err) {
      console.error(JSON.stringify({ level: "error", msg: "queue message failed; retrying", queue: batch.queue, id: m.id, error: String(err) }));
      m.retry(retryDelay(m));
    }
  }
}
