import type { DestinationRow } from "../db/queries";

/** Whether a destination subscribes to this event type (`event_types` unset means every type). */
export function wantsEventType(dest: DestinationRow, eventType: string): boolean {
  if (dest.event_types === null) return true;
  return (JSON.parse(dest.event_types) as string[]).includes(eventType);
}

/** Deterministic, so that storing the same event twice can only ever name one delivery. */
export async function deliveryIdFor(eventId: string, destinationId: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(eventId + "\n" + destinationId));
  return "dlv_" + [...new Uint8Array(digest).slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
