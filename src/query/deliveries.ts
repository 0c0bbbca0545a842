import { attemptsOf } from "../db/attempts";
import { countHeldAndDead, getDelivery, listDeliveries, type DeliveryRow } from "../db/deliveries";
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
  const rows = (await listDeliveries(env.DB, filters, after, limit + 1)).results;
  return pageOf(rows, limit, (d) => ({ created_at: d.created_at, id: d.id }));
}

/** The delivery row alone, or null. */
export const findDelivery = (env: Env, id: string) => getDelivery(env.DB, id);

/** A delivery with every attempt, oldest first, or null. */
export async function deliveryDetail(env: Env, id: string): Promise<DeliveryWithAttempts | null> {
  const delivery = await getDelivery(env.DB, id);
  if (!delivery) return null;
  return { delivery, attempts: (await attemptsOf(env.DB, [delivery.id])).results };
}

/** How many deliveries wait on an operator: held behind a paused destination, and dead. */
export async function heldAndDead(env: Env, tenant: string | null): Promise<{ held: number; dead: number }> {
  return (await countHeldAndDead(env.DB, tenant)) ?? { held: 0, dead: 0 };
}
