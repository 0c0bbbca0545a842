import { countHeldAndDead, getDelivery, listDeliveries, type DeliveryRow } from "../db/deliveries";
import { getDestination } from "../db/destinations";
import { derivedDelivery, listDerivedDeliveries } from "../db/first-attempts";
import { findInShards, mergeNewestFirst, onEveryShard } from "../db/shards";
import { destinationIdOf, eventIdOf } from "../delivery/routing";
import type { Env } from "../env";
import { attemptsIn } from "./attempts";
import type { DeliveryWithAttempts } from "./events";
import { pageOf, type Page } from "./page";

/*
 * A first attempt delivered inline has no delivery row: its delivery is
 * derived from its event's row (src/db/first-attempts.ts). Every reader here
 * answers stored and derived deliveries alike.
 */

export interface DeliveryFilters {
  status?: string;
  tenant?: string;
  destination?: string;
}
export interface DeliveryPosition {
  created_at: number;
  id: string;
}

/** The tenant the derived side of a listing walks: a destination belongs to one (null: none, the destination is unknown). */
async function derivedScope(
  env: Env,
  filters: DeliveryFilters,
): Promise<{ status?: "pending" | "delivered"; tenant?: string; destination?: string } | null> {
  const status = filters.status;
  if (status !== undefined && status !== "pending" && status !== "delivered") return null;
  if (filters.destination === undefined) return { status, tenant: filters.tenant };
  const destination = await getDestination(env.DB, filters.destination);
  if (!destination || (filters.tenant !== undefined && destination.tenant_id !== filters.tenant)) return null;
  return { status, tenant: destination.tenant_id, destination: destination.id };
}

/** Deliveries matching the filters, newest first, without their attempts. */
export async function searchDeliveries(
  env: Env,
  filters: DeliveryFilters,
  after: DeliveryPosition | null,
  limit: number,
): Promise<Page<DeliveryRow, DeliveryPosition>> {
  const scope = await derivedScope(env, filters);
  const pages = await onEveryShard(env, async (shard) => {
    const [stored, derived] = await Promise.all([
      listDeliveries(shard.db, filters, after, limit + 1),
      scope ? listDerivedDeliveries(shard.db, scope, after, limit + 1).all<DeliveryRow>() : null,
    ]);
    return [...stored.results, ...(derived?.results ?? [])];
  });
  const rows = mergeNewestFirst(pages, (d) => [d.created_at, d.id], limit);
  return pageOf(rows, limit, (d) => ({ created_at: d.created_at, id: d.id }));
}

/** The delivery, stored or derived, and its shard, or null. */
export const findDelivery = (env: Env, id: string) =>
  findInShards(env, async (shard) => (await getDelivery(shard.db, id)) ?? (await derivedDelivery(shard.db, eventIdOf(id), destinationIdOf(id)).first<DeliveryRow>()));

/** A delivery with every attempt, oldest first, or null. */
export async function deliveryDetail(env: Env, id: string): Promise<DeliveryWithAttempts | null> {
  const found = await findDelivery(env, id);
  if (!found) return null;
  const { shard, ...delivery } = found;
  return { delivery, attempts: await attemptsIn(shard.db, [delivery]) };
}

/** How many deliveries wait on an operator: held behind a paused destination, and dead. */
export async function heldAndDead(env: Env, tenant: string | null): Promise<{ held: number; dead: number }> {
  const counts = await onEveryShard(env, (shard) => countHeldAndDead(shard.db, tenant));
  return counts.reduce<{ held: number; dead: number }>((sum, c) => ({ held: sum.held + (c?.held ?? 0), dead: sum.dead + (c?.dead ?? 0) }), { held: 0, dead: 0 });
}
