import { deferClaimed, type ClaimedDelivery } from "../db/deliveries";
import { type DestinationRow } from "../db/destinations";
import { config, type Env } from "../env";
import { attemptToOutcome, type Outcome } from "./outcome";
import { recordOutcomes } from "./record-outcomes";
import { scheduleRetries } from "./schedule-retries";

/** How long a claim outlives the attempt's own timeout before the sweep may take it over. */
export const LEASE_MARGIN_MS = 60_000;

export const leaseMs = (env: Env) => config(env).DELIVERY_TIMEOUT_MS + LEASE_MARGIN_MS;

/**
 * How long a batch waits for its attempts before recording those that have
 * ended. Healthy CRMs answer well within it, so a batch is normally recorded
 * with one D1 round trip; a hung CRM delays only its own record, not the
 * others' (which would otherwise look pending, and be re-sent by the sweep
 * if the invocation died, until the hung attempt timed out).
 */
export const RECORD_TOGETHER_MS = 2000;

/** The values that settle within `ms`, and the promises of the rest. */
async function settledWithin<T>(promises: readonly Promise<T>[], ms: number): Promise<{ done: T[]; late: Promise<T>[] }> {
  const values = new Map<number, T>();
  const tracked = promises.map((p, i) => p.then((v) => void values.set(i, v)));
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([Promise.all(tracked), new Promise((r) => (timer = setTimeout(r, ms)))]);
  if (timer !== undefined) clearTimeout(timer);
  return {
    done: [...values.values()],
    late: promises.filter((_, i) => !values.has(i)),
  };
}

/** Answers in a row that say "this destination is down" before its turn in a batch ends. */
export const DOWN_IN_A_ROW_ENDS_TURN = 3;

/** How soon the rest of a turn is looked at again when what ended it sets no later time (after a 410 they will be held). */
export const DEFER_SHORT_MS = 5000;

/** No answer, a timeout, a 5xx, 408 or 429: the destination, not this payload, is the problem. */
function saysDown(o: Outcome): boolean {
  const code = o.result.statusCode;
  return code === null || code >= 500 || code === 408 || code === 429;
}

/**
 * New events (the callbacks consumer): one attempt for each claimed delivery,
 * all in parallel, recorded together. Only healthy destinations get these.
 */
export async function attemptInParallel(
  env: Env,
  ctx: ExecutionContext,
  owner: string,
  claimed: readonly ClaimedDelivery[],
  destinations: ReadonlyMap<string, DestinationRow>,
): Promise<void> {
  if (claimed.length === 0) return;
  const attempts = claimed.map((d) => attemptToOutcome(env, d, destinations));
  const { done, late } = await settledWithin(attempts, RECORD_TOGETHER_MS);
  await recordOutcomes(env, ctx, owner, done, destinations);
  await Promise.all(late.map(async (p) => recordOutcomes(env, ctx, owner, [await p], destinations)));
}

/**
 * Retries, releases and recoveries (the deliveries consumer): destinations in
 * parallel, each destination's deliveries one after another in the order
 * their events were received, so a released backlog arrives in order. A
 * failure of one payload (a 4xx) does not hold up the others. Three "down"
 * answers in a row (no answer, timeout, 5xx, 429) end that destination's
 * turn: the rest are handed back unattempted (no retry step spent) for when
 * the last failure says to try again, so a down or hung CRM costs three
 * timeouts per batch, never one per delivery. A 410 ends the turn at once.
 */
export async function attemptInOrder(
  env: Env,
  ctx: ExecutionContext,
  owner: string,
  claimed: readonly ClaimedDelivery[],
  destinations: ReadonlyMap<string, DestinationRow>,
): Promise<void> {
  const byDestination = new Map<string, ClaimedDelivery[]>();
  for (const d of claimed) byDestination.set(d.destination_id, [...(byDestination.get(d.destination_id) ?? []), d]);
  await Promise.all(
    [...byDestination.values()].map(async (group) => {
      group.sort((a, b) => a.received_at - b.received_at || (a.seq ?? 0) - (b.seq ?? 0) || a.event_id.localeCompare(b.event_id));
      let downInARow = 0;
      for (let i = 0; i < group.length; i++) {
        const outcome = await attemptToOutcome(env, group[i]!, destinations);
        await recordOutcomes(env, ctx, owner, [outcome], destinations);
        if (outcome.status === "delivered") downInARow = 0;
        else if (saysDown(outcome)) downInARow++;
        const rest = group.slice(i + 1);
        if (outcome.gone) return deferUnattempted(env, owner, rest, Date.now() + DEFER_SHORT_MS);
        if (downInARow >= DOWN_IN_A_ROW_ENDS_TURN) {
          return deferUnattempted(env, owner, rest, outcome.nextAttemptAt ?? Date.now() + DEFER_SHORT_MS);
        }
      }
    }),
  );
}

async function deferUnattempted(env: Env, owner: string, rest: readonly ClaimedDelivery[], at: number): Promise<void> {
  if (rest.length === 0) return;
  await env.DB.batch(rest.map((d) => deferClaimed(env.DB, d.id, owner, at)));
  await scheduleRetries(env, rest.map((d) => ({ id: d.id, at })), Date.now());
}

