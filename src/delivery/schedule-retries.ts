import type { Env } from "../env";
import type { DeliveryMessage } from "../queue-messages";

/** A Queue message can be delayed by at most 12 hours; longer waits are chained. */
export const MAX_QUEUE_DELAY_SECONDS = 12 * 3600;

/**
 * Puts deliveries back on the queue for their next attempt. A failed send is
 * logged, not thrown: the delivery is already recorded as due in D1, and the
 * sweep re-enqueues what is overdue.
 */
export async function scheduleRetries(env: Env, due: readonly { id: string; at: number }[], now: number): Promise<void> {
  for (let i = 0; i < due.length; i += 100) {
    const chunk = due.slice(i, i + 100);
    try {
      await env.DELIVERIES_QUEUE.sendBatch(
        chunk.map((d) => ({
          body: { t: "delivery", delivery_id: d.id } satisfies DeliveryMessage,
          contentType: "json" as const,
          delaySeconds: Math.min(MAX_QUEUE_DELAY_SECONDS, Math.max(0, Math.ceil((d.at - now) / 1000))),
        })),
      );
    } catch (err) {
      console.error(JSON.stringify({ level: "error", msg: "retry enqueue failed; the sweep will pick these up", count: chunk.length, error: String(err) }));
    }
  }
}
