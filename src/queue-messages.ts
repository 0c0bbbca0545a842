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
