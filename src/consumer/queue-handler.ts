import type { z } from "zod";
import type { Env } from "../env";
import { insertDeadLetter } from "../db/dead-letters";
import { runJob } from "../delivery/operator";
import { continueErase } from "../maintenance/erase";
import { callbackMessageSchema, deliveryJobSchema, deliveryMessageSchema, eraseJobSchema, type DeliveryJob, type EraseJob } from "../queue-messages";
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
 * Splits off messages that are not of the queue's kind: no retry can make
 * them readable, so each is recorded once in dead_letters (for the
 * operator) and acked.
 */
async function wellFormed<S extends z.ZodType>(
  queue: string,
  messages: readonly Message<unknown>[],
  schema: S,
  env: Env,
): Promise<Message<z.infer<S>>[]> {
  const bad = messages.filter((m) => !schema.safeParse(m.body).success);
  if (bad.length) {
    console.error(JSON.stringify({ level: "error", msg: "malformed queue messages recorded as dead letters", queue, ids: bad.map((m) => m.id) }));
    const now = Date.now();
    await env.DB.batch(bad.map((m) => insertDeadLetter(env.DB, m.id, queue, JSON.stringify(m.body) ?? "undefined", now)));
    for (const m of bad) m.ack();
  }
  return messages.filter((m) => !bad.includes(m)) as Message<z.infer<S>>[];
}

const kindOf = (m: Message<unknown>) => (m.body as { t?: unknown } | null)?.t;

/** The deliveries queue carries attempts to make, and chunks of operator jobs and erasures. */
async function runDeliveriesQueue(queue: string, messages: readonly Message<unknown>[], env: Env, ctx: ExecutionContext): Promise<void> {
  const jobs = messages.filter((m) => kindOf(m) === "job");
  const erasures = messages.filter((m) => kindOf(m) === "erase");
  const deliveries = messages.filter((m) => !jobs.includes(m) && !erasures.includes(m));
  for (const m of await wellFormed(queue, jobs, deliveryJobSchema, env)) {
    await runJob(env, m.body as DeliveryJob, 1);
    m.ack();
  }
  for (const m of await wellFormed(queue, erasures, eraseJobSchema, env)) {
    await continueErase(env, m.body as EraseJob);
    m.ack();
  }
  const wanted = await wellFormed(queue, deliveries, deliveryMessageSchema, env);
  if (wanted.length) await runDeliveries(wanted, env, ctx);
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
      run = async (messages) => storeCallbacks(await wellFormed(batch.queue, messages, callbackMessageSchema, env), env, ctx);
      break;
    case QUEUES.deliveries:
      run = (messages) => runDeliveriesQueue(batch.queue, messages, env, ctx);
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
