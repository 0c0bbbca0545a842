/*
 * The delivery lifecycle, whole: the statuses a delivery can have, the
 * transitions between them, and the lease rules that decide who may make
 * them. Every write to `deliveries` (src/db/deliveries.ts) names the
 * transition it makes and takes its conditions from here, so a rule is
 * changed in this one place.
 *
 *   create ──► pending ─claim─► (leased) ─deliver─► delivered
 *        │        ▲  ▲            │  ├─fail──► failed ─claim─► (leased) …
 *        │        │  │            │  ├─die───► dead
 *        │        │  │            │  ├─gone──► held (410: the destination pauses)
 *        │        │  │            │  └─defer─► pending/failed, unattempted
 *        └─► held ┴release        └─(lease expires)─► claimable again
 *
 *   operator: restart (failed|dead → pending|held), replay (any unleased → pending|held),
 *   abandon (open → dead: destination removed, or outcome never recorded).
 *
 * Inline first attempts (the happy path, with no delivery row at all). A new
 * event's first attempt to a healthy destination is made by the invocation
 * that stores it, and the event row is its claim: `fanout` names the
 * destinations, `batch_nonce` the owner, `fanout_until` the lease. Its
 * outcome is recorded once:
 *   delivered              → into the event's `first_attempts`; the delivery is
 *                            derived from it wherever one is read (src/db/first-attempts.ts)
 *   failed, dead, held     → `firstOutcome`: the row is created in that status,
 *                            with its attempt row, and goes on like any other
 * An unrecorded inline attempt blocks the later events of its call exactly as
 * an open row does. The callback's queue message is acked only once its
 * outcomes are recorded, so a fan-out left unrecorded (the invocation died,
 * or D1 refused the record) comes back with the message and is taken on
 * (`fanout_claims`) once its lease is over; after MAX_UNRECORDED_CLAIMS claims
 * its deliveries are created dead instead of being sent again.
 */

export const deliveryStatuses = ["pending", "delivered", "failed", "dead", "held"] as const;
export type DeliveryStatus = (typeof deliveryStatuses)[number];

/** Still owed to the destination. */
export const OPEN: readonly DeliveryStatus[] = ["pending", "failed", "held"];
/** May be claimed for an attempt once due. */
export const DUE: readonly DeliveryStatus[] = ["pending", "failed"];

/**
 * What a transition needs of the lease:
 * - `free`: nobody holds an unexpired lease (an attempt in flight is never overwritten);
 * - `owner`: the writer holds the lease (a lost lease makes the write a no-op);
 * - `none`: the row is being created.
 */
export type LeaseRule = "free" | "owner" | "none";

export interface Transition {
  from: readonly DeliveryStatus[];
  to: readonly DeliveryStatus[];
  lease: LeaseRule;
  /** Why and by whom, for the reader of this table. */
  when: string;
}

export const transitions = {
  create: {
    from: [],
    to: ["pending", "held"],
    lease: "none",
    when: "the consumer stores a new event for a destination it does not attempt at once (paused, failing, rate-limited), or whose first attempt must wait for an earlier event of the call; held when paused",
  },
  firstOutcome: {
    from: [],
    to: ["failed", "dead", "held"],
    lease: "none",
    when: "an inline first attempt that was not delivered: the row is created with its outcome, by the fan-out's owner only",
  },
  claim: {
    from: DUE,
    to: DUE,
    lease: "free",
    when: "an invocation takes a due delivery for an attempt: its destination enabled, no earlier event of the same call still open to that destination, fewer than MAX_UNRECORDED_CLAIMS claims without a recorded outcome",
  },
  renew: { from: DUE, to: DUE, lease: "owner", when: "a long turn extends its lease before an attempt it could not finish within it" },
  deliver: { from: DUE, to: ["delivered"], lease: "owner", when: "a 2xx answer" },
  fail: { from: DUE, to: ["failed"], lease: "owner", when: "any other answer, a timeout, or an attempt that could not be made; retried on the schedule" },
  die: { from: DUE, to: ["dead"], lease: "owner", when: "a failure with the schedule used up, or one that can never succeed (destination removed, payload erased)" },
  gone: { from: DUE, to: ["held"], lease: "owner", when: "a 410: the destination pauses and the delivery waits for it" },
  defer: { from: DUE, to: DUE, lease: "owner", when: "claimed but not attempted (rate limit, a down destination's turn ended, an earlier event of the call failed): no retry step spent" },
  hold: { from: DUE, to: ["held"], lease: "free", when: "a due delivery of a paused destination" },
  release: { from: ["held"], to: ["pending"], lease: "free", when: "its destination is enabled: oldest first, by the operator's PATCH and then by the sweep until none is left" },
  restart: { from: ["failed", "dead"], to: ["pending", "held"], lease: "free", when: "operator retry or recover: the schedule starts over" },
  replay: { from: deliveryStatuses, to: ["pending", "held"], lease: "free", when: "operator replay: delivered again under the same webhook-id (created when missing)" },
  abandon: {
    from: OPEN,
    to: ["dead"],
    lease: "free",
    when: "its destination was removed, or its outcome could not be recorded MAX_UNRECORDED_CLAIMS times (an inline first attempt's row is then created dead)",
  },
  requeue: { from: DUE, to: DUE, lease: "free", when: "the sweep re-sends an overdue delivery's queue message (lost, or never sent)" },
} as const satisfies Record<string, Transition>;

export type TransitionName = keyof typeof transitions;

/**
 * How long a claim lasts: one attempt (DELIVERY_TIMEOUT_MS) and its
 * recording, twice over. A turn that would outlast it renews it first.
 */
export const leaseMsFor = (deliveryTimeoutMs: number) => 2 * deliveryTimeoutMs + 5_000;

/**
 * Claims of one delivery whose outcome was never recorded (the CRM may have
 * got it each time) before it is declared dead rather than sent again.
 */
export const MAX_UNRECORDED_CLAIMS = 3;

/** A delivery this long past due has lost its queue message (or never had one). */
export const OVERDUE_AFTER_MS = 30_000;
/** How long the sweep trusts a message it sent to arrive before sending another. */
export const REQUEUE_AFTER_MS = 10 * 60_000;

const quoted = (statuses: readonly DeliveryStatus[]) => statuses.map((s) => `'${s}'`).join(", ");

/**
 * The WHERE terms of a transition on the `deliveries` row aliased `alias`:
 * its allowed statuses and its lease rule. `now` and `owner` are the SQL
 * parameter names the statement binds them to.
 */
export function guard(name: TransitionName, alias: string, params: { now?: string; owner?: string }): string {
  const t: Transition = transitions[name];
  const status = `${alias}.status IN (${quoted(t.from)})`;
  if (t.lease === "free") return `${status} AND (${alias}.lease_until IS NULL OR ${alias}.lease_until < ${params.now})`;
  if (t.lease === "owner") return `${status} AND ${alias}.lease_owner = ${params.owner}`;
  return status;
}

export const statusList = quoted;
