import { z } from "zod";

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
  after: z.object({ created_at: z.number(), id: z.string() }).optional(),
});
export type DeliveryJob = z.infer<typeof deliveryJobSchema>;
