import type { AttemptRow } from "../db/attempts";
import { deliveriesOfEvent, type DeliveryRow } from "../db/deliveries";
import { getEvent, listEvents, type EventFilters, type EventRow } from "../db/events";
import { findInShards, mergeNewestFirst, onEveryShard, type Shard } from "../db/shards";
import { deliveryRangeOf } from "../delivery/routing";
import type { Env } from "../env";
import { payloadStateOf, readPayload } from "../storage/payloads";
import { attemptsIn } from "./attempts";
import { pageOf, type Page } from "./page";

/*
 * What the admin API, the dashboard and the tenant portal read about events:
 * one place, so that every reader sees the same rows the same way (payload
 * state derived from retention, bodies read from R2).
 */

export type { EventFilters };
export type EventSummary = Omit<EventRow, "payload">;
export interface EventPosition {
  received_at: number;
  id: string;
}

export interface DeliveryWithAttempts {
  delivery: DeliveryRow;
  attempts: AttemptRow[];
}

export interface EventDetail {
  event: EventSummary;
  /** The body as received (parsed), or null once purged or erased. */
  payload: unknown;
  deliveries: DeliveryWithAttempts[];
}

/** Stored events matching the filters, newest first, merged over every shard. */
export async function searchEvents(env: Env, filters: EventFilters, after: EventPosition | null, limit: number): Promise<Page<EventSummary, EventPosition>> {
  const now = Date.now();
  const pages = await onEveryShard(env, async (shard) => (await listEvents(shard.db, filters, after, limit + 1)).results);
  const rows = mergeNewestFirst(pages, (e) => [e.received_at, e.id], limit).map((e) => ({ ...e, payload_state: payloadStateOf(env, e, now) }));
  return pageOf(rows, limit, (e) => ({ received_at: e.received_at, id: e.id }));
}

/** The stored event row (payload not read) and its shard, or null when unknown or expired. */
export function findEvent(env: Env, id: string): Promise<(EventRow & { shard: Shard }) | null> {
  return findInShards(env, (shard) => getEvent(shard.db, id));
}

/** The body of a stored event, or null when it is purged or erased. */
export const payloadOf = (env: Env, event: EventRow) => readPayload(env, event);

/** An event with its body and every delivery and attempt, or null when unknown or expired. */
export async function eventDetail(env: Env, id: string): Promise<EventDetail | null> {
  const found = await findEvent(env, id);
  if (!found) return null;
  const { shard, ...event } = found;
  const deliveries = (await deliveriesOfEvent(shard.db, event.id, deliveryRangeOf(event.id))).results;
  const attempts = await attemptsIn(shard.db, deliveries);
  const payload = await readPayload(env, event);
  const state = payloadStateOf(env, event);
  const { payload: _held, ...summary } = event;
  return {
    // A kept payload whose object is gone (deleted by retention, a day or so after its events expire) is purged too.
    event: { ...summary, payload_state: state === "kept" && payload === null ? "purged" : state },
    payload: payload === null ? null : (JSON.parse(payload) as unknown),
    deliveries: deliveries.map((delivery) => ({ delivery, attempts: attempts.filter((a) => a.delivery_id === delivery.id) })),
  };
}
