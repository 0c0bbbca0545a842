import type { DestinationRow } from "../db/destinations";
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
 * `doc` is asked for only when there is a filter: building it may mean
 * parsing the body.
 */
export function destinationWants(dest: DestinationRow, eventType: string, doc: () => FilterDocument): boolean {
  if (dest.event_types !== null && !(JSON.parse(dest.event_types) as string[]).includes(eventType)) return false;
  return dest.filter === null || matchesFilter(JSON.parse(dest.filter) as PayloadFilter, doc());
}

export function filterDocument(e: { id: string; type: string; tenant_id: string; received_at: number }, data: unknown): FilterDocument {
  return { id: e.id, type: e.type, tenant: e.tenant_id, received_at: new Date(e.received_at).toISOString(), data };
}

/**
 * Deterministic, so that storing the same event twice can only ever name one
 * delivery; and prefixed by the event, so that an event's deliveries are one
 * range of the primary key (no separate index to write on every insert).
 */
export function deliveryIdFor(eventId: string, destinationId: string): string {
  return `dlv_${eventId.slice("evt_".length)}_${destinationId.slice("dst_".length)}`;
}

/** The event a delivery id names (its part before the destination's hash). */
export function eventIdOf(deliveryId: string): string {
  return `evt_${deliveryId.slice("dlv_".length, deliveryId.indexOf("_", "dlv_".length))}`;
}

/** The destination a delivery id names (its part after the event's hash). */
export function destinationIdOf(deliveryId: string): string {
  return `dst_${deliveryId.slice(deliveryId.indexOf("_", "dlv_".length) + 1)}`;
}

/** The key range that holds every delivery of an event (`_` is followed by a backtick in code order). */
export function deliveryRangeOf(eventId: string): [from: string, to: string] {
  const prefix = `dlv_${eventId.slice("evt_".length)}`;
  return [prefix + "_", prefix + "`"];
}
