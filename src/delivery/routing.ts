import type { DestinationRow } from "../db/queries";
import { matchesFilter, type PayloadFilter } from "./payload-filter";

/** What a destination's filter is matched against: the outbound envelope, with `data` parsed. */
export interface FilterDocument {
  id: string;
  type: string;
  tenant: string;
  received_at: string;
  data: unknown;
}

/**
 * Whether a destination gets this event: its `event_types` (unset means
 * every type) and its payload filter (unset means everything) must both hold.
 */
export function destinationWants(dest: DestinationRow, eventType: string, doc: FilterDocument): boolean {
  if (dest.event_types !== null && !(JSON.parse(dest.event_types) as string[]).includes(eventType)) return false;
  return dest.filter === null || matchesFilter(JSON.parse(dest.filter) as PayloadFilter, doc);
}

export function filterDocument(e: { id: string; type: string; tenant_id: string; received_at: number }, data: unknown): FilterDocument {
  return { id: e.id, type: e.type, tenant: e.tenant_id, received_at: new Date(e.received_at).toISOString(), data };
}

/** Deterministic, so that storing the same event twice can only ever name one delivery. */
export async function deliveryIdFor(eventId: string, destinationId: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(eventId + "\n" + destinationId));
  return "dlv_" + [...new Uint8Array(digest).slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
