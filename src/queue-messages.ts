import { z } from "zod";
import { eventColumnsSchema } from "./callbacks/columns";
import { ERASE_TABLES } from "./db/privacy";

/**
 * A callback accepted at the edge. `body` is the raw request text; it is left
 * out (and kept in the D1 inbox instead) when it would not fit in a queue
 * message.
 */
export const callbackMessageSchema = z.object({
  t: z.literal("callback"),
  event_id: z.string(),
  tenant_id: z.string(),
  kind: z.string(),
  type: z.string(),
  received_at: z.number(),
  body: z.string().optional(),
  /**
   * The searchable columns ingest read from the body it had parsed, so that
   * the consumer parses the body again only for a payload filter. Messages
   * without them (sent before, or by the sweep from the inbox) are parsed.
   */
  columns: eventColumnsSchema.optional(),
});
export type CallbackMessage = z.infer<typeof callbackMessageSchema>;

/** "Try this delivery now (if it is still due)." */
export const deliveryMessageSchema = z.object({
  t: z.literal("delivery"),
  delivery_id: z.string(),
});
export type DeliveryMessage = z.infer<typeof deliveryMessageSchema>;

/**
 * Operator work too large for one request, done a bounded chunk at a time
 * on the deliveries queue: each message does one chunk and sends the next.
 */
export const deliveryJobSchema = z.object({
  t: z.literal("job"),
  job: z.enum(["recover", "release", "abandon"]),
  destination_id: z.string(),
  since: z.number().optional(),
  /** The event shard the job is walking (src/db/shards.ts); it goes through them in order. */
  shard: z.number().int().nonnegative().optional(),
  after: z.object({ created_at: z.number(), id: z.string() }).optional(),
});
export type DeliveryJob = z.infer<typeof deliveryJobSchema>;

/**
 * The rest of an erase that did not fit in its request (or in the message
 * before): where the walk through the tenant's data stands. The number is
 * sealed (see src/maintenance/erase.ts), never in clear.
 */
export const eraseJobSchema = z.object({
  t: z.literal("erase"),
  tenant_id: z.string(),
  needles_sealed: z.string(),
  table: z.enum(ERASE_TABLES),
  shard: z.number().int().nonnegative().optional(),
  after: z.object({ received_at: z.number(), id: z.string() }).optional(),
});
export type EraseJob = z.infer<typeof eraseJobSchema>;

/**
 * How many times a dead-lettered callback, job or erasure is handed back to
 * its queue (src/maintenance/redrive.ts). Each time it gets the queue's full
 * retries again (about 25 minutes), so it is tried for about two and a half
 * hours in all: longer than an R2 or D1 outage is likely to last, and bounded,
 * so that a message no retry can take (a defect, not an outage) does not go
 * round for ever.
 */
export const MAX_REDRIVES = 5;

/** The field a handed-back message carries: how many times it has been handed back. */
export const REDRIVEN = "redriven";

/** Whether a dead letter's message has been handed back as often as it will be. */
export const redrivesSpent = (body: unknown): boolean =>
  typeof body === "object" && body !== null && Number((body as Record<string, unknown>)[REDRIVEN]) >= MAX_REDRIVES;
