import { deferClaimed, renewLeases, type ClaimedDelivery } from "../db/deliveries";
import { rateLimitPeriods, reserveSendSlots, type DestinationRow } from "../db/destinations";
import type { Shard } from "../db/shards";
import { config, type Env } from "../env";
import { leaseMsFor } from "./lifecycle";
import { attemptToOutcome, type Outcome } from "./outcome";
import { recordOutcomes } from "./record-outcomes";
import { scheduleRetries } from "./schedule-retries";

export const leaseMs = (env: Env) => leaseMsFor(config(env).DELIVERY_TIMEOUT_MS);

/** What one attempt and its recording need of a lease still to run. */
const RECORDING_MS = 5_000;

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

/** Calls sent to one destination at the same time in a turn (each call's events one after another). */
export const CALLS_IN_PARALLEL = 8;

/** How far ahead a turn reserves send slots of a rate-limited destination; the rest wait for a later turn. */
export const SLOT_HORIZON_MS = 30_000;

/** How late a send may still use its slot; a later one is kept for the next slot (see slotIntervalMs). */
export const SLOT_LATE_MS = 20;

/** The network jitter between two requests to one destination that the slot spacing absorbs. */
const NETWORK_SLACK_MS = 40;

/**
 * Slack every window of `rate_limit` slots keeps beyond its period: 2 % of
 * the period for timer drift, one late send, and the network between here and
 * the destination's own clock (a request leaving on time can arrive late, and
 * the next one on time). Sent on time, the destination counts no more than
 * `rate_limit` per period even by arrival.
 */
const slotIntervalMs = (periodMs: number, limit: number) => Math.ceil((periodMs * 1.02 + SLOT_LATE_MS + NETWORK_SLACK_MS) / limit);

/** No answer, a timeout, a 5xx, 408 or 429: the destination, not this payload, is the problem. */
function saysDown(o: Outcome): boolean {
  const code = o.result.statusCode;
  return code === null || code >= 500 || code === 408 || code === 429;
}

function logFailure(msg: string, err: unknown): void {
  console.error(JSON.stringify({ level: "error", msg, error: String(err) }));
}

/**
 * New events (the callbacks consumer): one attempt for each claimed delivery,
 * all in parallel, recorded together. Only healthy destinations without a
 * rate limit get these, and the claim has already checked call order.
 * Answers the events whose inline first attempts could not be recorded.
 */
export async function attemptInParallel(
  env: Env,
  ctx: ExecutionContext,
  owner: string,
  claimed: readonly ClaimedDelivery[],
  destinations: ReadonlyMap<string, DestinationRow>,
): Promise<Set<string>> {
  const unrecorded = new Set<string>();
  if (claimed.length === 0) return unrecorded;
  const attempts = claimed.map((d) => attemptToOutcome(env, d, destinations));
  const { done, late } = await settledWithin(attempts, RECORD_TOGETHER_MS);
  const record = (outcomes: Outcome[]) =>
    recordOutcomes(env, ctx, owner, outcomes, destinations).catch((err) => {
      // An inline first attempt comes back with its callback's queue message; a
      // claimed row is taken up by the sweep once its lease ends (see MAX_UNRECORDED_CLAIMS).
      for (const o of outcomes) if (o.delivery.inline) unrecorded.add(o.delivery.event_id);
      logFailure("recording attempts failed", err);
    });
  await record(done);
  await Promise.all(late.map(async (p) => record([await p])));
  return unrecorded;
}

/** Send slots reserved for one turn of a rate-limited destination. */
export class SendSlots {
  private next = 0;
  constructor(
    private readonly firstAt: number,
    private readonly granted: number,
    private readonly intervalMs: number,
    readonly nextFreeAt: number,
  ) {}

  /** The time of the next slot that can still be used, or null when this turn has none left. */
  take(now: number): number | null {
    while (this.next < this.granted) {
      const at = this.firstAt + this.next * this.intervalMs;
      this.next++;
      if (at >= now - SLOT_LATE_MS) return at;
    }
    return null;
  }
}

async function reserveSlots(env: Env, dest: DestinationRow | undefined, wanted: number): Promise<SendSlots | null> {
  if (!dest?.rate_limit || !dest.rate_limit_period) return null;
  const intervalMs = slotIntervalMs(rateLimitPeriods[dest.rate_limit_period], dest.rate_limit);
  const now = Date.now();
  const row = await reserveSendSlots(env.DB, dest.id, wanted, intervalMs, SLOT_HORIZON_MS, now);
  return row ? new SendSlots(row.first_at, row.granted, intervalMs, row.next_free_at) : new SendSlots(now, 0, intervalMs, now);
}

/** One destination's share of a deliveries batch. */
class Turn {
  private downInARow = 0;
  /** Set once the turn is over (destination down, 410, no send slot left): when the rest are due again. */
  endedUntil: number | null = null;
  /** Claimed and not yet attempted. */
  readonly unattempted: Set<string>;
  /** Where each delivery lives: leases are renewed and handed back there. */
  private readonly shardOf: Map<string, Shard>;
  /** Later events of a call whose earlier event did not go through: due again with it. */
  readonly waitUntil = new Map<string, number>();
  private renewing: Promise<void> | null = null;

  constructor(
    private readonly env: Env,
    private readonly ctx: ExecutionContext,
    private readonly owner: string,
    private readonly destinations: ReadonlyMap<string, DestinationRow>,
    private readonly slots: SendSlots | null,
    deliveries: readonly ClaimedDelivery[],
    private leaseUntil: number,
  ) {
    this.unattempted = new Set(deliveries.map((d) => d.id));
    this.shardOf = new Map(deliveries.map((d) => [d.id, d.shard]));
  }

  /** These ids grouped by the shard they live in. */
  private byShard(ids: Iterable<string>): Map<Shard, string[]> {
    const groups = new Map<Shard, string[]>();
    for (const id of ids) {
      const shard = this.shardOf.get(id)!;
      groups.set(shard, [...(groups.get(shard) ?? []), id]);
    }
    return groups;
  }

  /**
   * Renews the lease of everything still unattempted when it would run out
   * before `needUntil`; answers whether `id` is still ours. A delivery lost
   * to another invocation (its lease had run out) leaves the turn.
   */
  private async holdLeaseUntil(needUntil: number, id: string): Promise<boolean> {
    while (needUntil > this.leaseUntil) {
      this.renewing ??= (async () => {
        const until = Date.now() + leaseMs(this.env);
        const renewed = await Promise.all([...this.byShard(this.unattempted)].map(([shard, ids]) => renewLeases(shard.db, ids, this.owner, until)));
        const held = new Set(renewed.flatMap((r) => r.results.map((row) => row.id)));
        for (const lost of [...this.unattempted].filter((x) => !held.has(x))) this.unattempted.delete(lost);
        this.leaseUntil = until;
      })().finally(() => (this.renewing = null));
      await this.renewing;
    }
    return this.unattempted.has(id);
  }

  /** What an attempt and its recording need of the lease, from when it is sent. */
  private leaseNeededMs(): number {
    return config(this.env).DELIVERY_TIMEOUT_MS + RECORDING_MS;
  }

  /**
   * Waits, with the request built, for the next send slot. The slot is judged
   * at the moment of sending, not when the request began: building it can
   * take long on a loaded isolate. False when the turn has no slot left (it
   * ends) or the delivery was lost with its lease.
   */
  private async waitForSlot(slots: SendSlots, id: string): Promise<boolean> {
    for (;;) {
      const slot = slots.take(Date.now());
      if (slot === null) {
        this.endedUntil = slots.nextFreeAt;
        return false;
      }
      if (!(await this.holdLeaseUntil(slot + this.leaseNeededMs(), id))) return false;
      if (slot > Date.now()) await new Promise((r) => setTimeout(r, slot - Date.now()));
      if (Date.now() <= slot + SLOT_LATE_MS) return true;
    }
  }

  /** One call's claimed deliveries, in the order received; stops at the first that does not go through. */
  async runCall(chain: readonly ClaimedDelivery[]): Promise<void> {
    for (const [i, d] of chain.entries()) {
      if (this.endedUntil !== null) return;
      const slots = this.slots;
      let outcome: Outcome | null;
      if (slots) {
        outcome = await attemptToOutcome(this.env, d, this.destinations, () => this.waitForSlot(slots, d.id));
        if (outcome === null) return;
      } else {
        if (!(await this.holdLeaseUntil(Date.now() + this.leaseNeededMs(), d.id))) return;
        outcome = await attemptToOutcome(this.env, d, this.destinations);
      }
      this.unattempted.delete(d.id);
      try {
        await recordOutcomes(this.env, this.ctx, this.owner, [outcome], this.destinations);
      } catch (err) {
        logFailure("recording an attempt failed; ending this call's turn", err);
        return;
      }
      if (outcome.status === "delivered") this.downInARow = 0;
      else if (saysDown(outcome)) this.downInARow++;
      if (outcome.gone) {
        this.endedUntil = Date.now() + DEFER_SHORT_MS;
        return;
      }
      if (this.downInARow >= DOWN_IN_A_ROW_ENDS_TURN) {
        this.endedUntil = outcome.nextAttemptAt ?? Date.now() + DEFER_SHORT_MS;
        return;
      }
      if (outcome.status === "failed") {
        // Later events of this call must not overtake it: they wait for its retry.
        for (const later of chain.slice(i + 1)) this.waitUntil.set(later.id, outcome.nextAttemptAt!);
        return;
      }
    }
  }

  /** Hands back what was claimed and not attempted, for when it is due again: no retry step is spent. */
  async handBack(): Promise<void> {
    if (this.unattempted.size === 0) return;
    const byTime = new Map<number, string[]>();
    for (const id of this.unattempted) {
      const at = this.waitUntil.get(id) ?? this.endedUntil ?? Date.now() + DEFER_SHORT_MS;
      byTime.set(at, [...(byTime.get(at) ?? []), id]);
    }
    await Promise.all(
      [...this.byShard(this.unattempted)].map(([shard, ids]) => {
        const mine = new Set(ids);
        return shard.db.batch(
          [...byTime].flatMap(([at, group]) => {
            const here = group.filter((id) => mine.has(id));
            return here.length ? [deferClaimed(shard.db, here, this.owner, at)] : [];
          }),
        );
      }),
    );
    await scheduleRetries(this.env, [...byTime].flatMap(([at, ids]) => ids.map((id) => ({ id, at }))), Date.now());
  }
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

const receivedOrder = (a: ClaimedDelivery, b: ClaimedDelivery) =>
  a.received_at - b.received_at || (a.seq ?? 0) - (b.seq ?? 0) || a.event_id.localeCompare(b.event_id);

/**
 * Retries, releases and recoveries (the deliveries consumer). Destinations
 * in parallel; within one, up to CALLS_IN_PARALLEL calls at a time, each
 * call's events one after another in the order received, so a released
 * backlog keeps every call in order and still drains at the destination's
 * concurrency. A 4xx of one payload does not hold up other calls. Three
 * "down" answers in a row (no answer, timeout, 5xx, 429) end the turn: the
 * rest are handed back unattempted for when the last failure says to try
 * again, so a down CRM costs three timeouts per batch, never one per
 * delivery. A 410 ends it at once. A rate-limited destination sends only in
 * the slots it reserved; the rest wait for their own. The lease is renewed
 * whenever the next attempt could outlast it.
 */
export async function attemptInOrder(
  env: Env,
  ctx: ExecutionContext,
  owner: string,
  claimed: readonly ClaimedDelivery[],
  destinations: ReadonlyMap<string, DestinationRow>,
  leaseUntil: number,
): Promise<void> {
  const byDestination = new Map<string, ClaimedDelivery[]>();
  for (const d of claimed) byDestination.set(d.destination_id, [...(byDestination.get(d.destination_id) ?? []), d]);
  const turns = [...byDestination].map(async ([destinationId, group]) => {
    const calls = new Map<string, ClaimedDelivery[]>();
    for (const d of [...group].sort(receivedOrder)) {
      const key = d.callid ?? d.event_id;
      calls.set(key, [...(calls.get(key) ?? []), d]);
    }
    const slots = await reserveSlots(env, destinations.get(destinationId), group.length);
    const turn = new Turn(env, ctx, owner, destinations, slots, group, leaseUntil);
    try {
      await inParallel([...calls.values()], CALLS_IN_PARALLEL, (chain) => turn.runCall(chain));
    } finally {
      await turn.handBack();
    }
  });
  const settled = await Promise.allSettled(turns);
  for (const s of settled) if (s.status === "rejected") logFailure("a destination's turn failed; the sweep takes up what it left", s.reason);
}
