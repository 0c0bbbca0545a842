import { attemptsOf } from "../db/attempts";
import { countHeldAndDead, getDelivery, listDeliveries, type DeliveryRow } from "../db/deliveries";
import { findInShards, mergeNewestFirst, onEveryShard } from "../db/shards";
import type { Env } from "../env";
import type { DeliveryWithAttempts } from "./events";
import { pageOf, type Page } from "./page";

export interface DeliveryFilters {
  status?: string;
  tenant?: string;
  destination?: string;
}
export interface DeliveryPosition {
  created_at: number;
  id: string;
}

/** Deliveries matching the filters, newest first, without their attempts. */
export async function searchDeliveries(
  env: Env,
  filters: DeliveryFilters,
  after: DeliveryPosition | null,
  limit: number,
): Promise<Page<DeliveryRow, DeliveryPosition>> {
  const pages = await onEveryShard(env, async (shard) => (await listDeliveries(shard.db, filters, after, limit + 1)).results);
  const rows = mergeNewestFirst(pages, (d) => [d.created_at, d.id], limit);
  return pageOf(rows, limit, (d) => ({ created_at: d.created_at, id: d.id }));
}

/** The delivery row alone and its shard, or null. */
export const findDelivery = (env: Env, id: string) => findInShards(env, (shard) => getDelivery(shard.db, id));

/** A delivery with every attempt, oldest first, or null. */
export async function deliveryDetail(env: Env, id: string): Promise<DeliveryWithAttempts | null> {
  const found = await findDelivery(env, id);
  if (!found) return null;
  const { shard, ...delivery } = found;
  return { delivery, attempts: (await attemptsOf(shard.db, [delivery.id])).results };
}

/** How many deliveries wait on an operator: held behind a paused destination, and dead. */
export async function heldAndDead(env: Env, tenant: string | null): Promise<{ held: number; dead: number }> {
  const counts = await onEveryShard(env, (shard) => countHeldAndDead(shard.db, tenant));
  return counts.reduce<{ held: number; dead: number }>((sum, c) => ({ held: sum.held + (c?.held ?? 0), dead: sum.dead + (c?.dead ?? 0) }), { held: 0, dead: 0 });
}
