import type { EventColumns } from "../callbacks/columns";
import { families, type FamilyKind } from "../callbacks/families";
import { claimDueDeliveries, claimedBy, destinationStates, insertDeliveryForNewEvent, type ClaimedDelivery, type ClaimedDeliveryRow } from "../db/deliveries";
import { abandonUnrecordedFanouts, fanoutsHeldElsewhere, inlineClaimedBy, takeOverFanouts } from "../db/first-attempts";
import { destinationsOfTenants, type DestinationRow } from "../db/destinations";
import { callsStored, insertEvent, storedEventIds } from "../db/events";
import { homeShard, onEveryShard, shardsOf, type Shard } from "../db/shards";
import { deleteInbox, inboxBodies } from "../db/inbox";
import { reportUnrecorded, type Unrecorded } from "./run-deliveries";
import { attemptInParallel, leaseMs } from "../delivery/attempt-claimed";
import { scheduleRetries } from "../delivery/schedule-retries";
import { deliveryIdFor, destinationWants, filterDocument } from "../delivery/routing";
import type { Env } from "../env";
import type { CallbackMessage } from "../queue-messages";
import { checkSize, fromD1, spoolCallbacks, StorageUnavailable } from "../storage/outage";
import { readPayload, writeBatch } from "../storage/payloads";

interface Stored {
  message: Message<CallbackMessage>;
  body: string;
  /** Stored by an earlier invocation (a redelivered message, or AiRudder sending it again). */
  known: boolean;
  columns: EventColumns;
  /** The tenant's destinations that want this event (event types and payload filter). */
  wantedBy: DestinationRow[];
  shard: Shard;
}

function columnsOf(kind: string, payload: Record<string, unknown>): EventColumns {
  const family = families[kind as FamilyKind] ?? families.generic;
  return family.columns(payload);
}

/**
 * One batch of accepted callbacks: store every event and its deliveries with
 * one D1 batch(), claim the first attempts in the same round trip, then make
 * them. Healthy destinations get their first attempt here, at once; a
 * destination that is already failing gets it from the deliveries queue, so a
 * hung CRM never holds up this batch for the others.
 */
export async function storeCallbacks(
  messages: readonly Message<CallbackMessage>[],
  env: Env,
  ctx: ExecutionContext,
): Promise<void> {
  const nonce = crypto.randomUUID();
  const now = Date.now();
  const needInbox = messages.filter((m) => m.body.body === undefined).map((m) => m.body.event_id);
  const tenants = [...new Set(messages.map((m) => m.body.tenant_id))];

  let control: [{ event_id: string; body: string }[], DestinationRow[]];
  try {
    control = await fromD1(
      Promise.all([
        needInbox.length ? inboxBodies(env.DB, needInbox).then((r) => r.results) : Promise.resolve([]),
        destinationsOfTenants(env.DB, tenants).all<DestinationRow>().then((r) => r.results),
      ]),
    );
  } catch (err) {
    return keepOutsideD1(env, messages, now, err);
  }
  const [inbox, destinationRows] = control;
  const inboxById = new Map(inbox.map((r) => [r.event_id, r.body]));
  const byTenant = new Map<string, DestinationRow[]>();
  for (const d of destinationRows) byTenant.set(d.tenant_id, [...(byTenant.get(d.tenant_id) ?? []), d]);
  const destinations = new Map(destinationRows.map((d) => [d.id, d]));

  const withBodies = messages.flatMap((message) => {
    const m = message.body;
    const body = m.body ?? inboxById.get(m.event_id);
    // No body anywhere: an inbox reference whose event an earlier invocation already stored.
    if (body === undefined) return [];
    let payload: Record<string, unknown> | undefined;
    const payloadOf = () => (payload ??= JSON.parse(body) as Record<string, unknown>);
    return [{ message, body, payloadOf, columns: m.columns ?? columnsOf(m.kind, payloadOf()) }];
  });

  // A callback sent again (AiRudder retries) is already stored, in some
  // shard: a second copy of its body in R2 would be one an erase never
  // finds. A call under way stays in the shard where it started.
  let placed: { shard: Shard; known: string[]; calls: string[] }[];
  try {
    // Body-less messages too: the event is stored, and its fan-out may be left to take on.
    const eventIds = messages.map((m) => m.body.event_id);
    const callids = [...new Set(withBodies.map((p) => p.columns.callid).filter((c): c is string => c !== null))];
    placed = await fromD1(
      onEveryShard(env, async (shard) => {
        const [known, calls] = await shard.db.batch<{ id: string; tenant_id: string; callid: string }>([
          storedEventIds(shard.db, eventIds),
          callsStored(shard.db, callids),
        ]);
        return { shard, known: known!.results.map((r) => r.id), calls: calls!.results.map((r) => `${r.tenant_id}\n${r.callid}`) };
      }),
    );
  } catch (err) {
    return keepOutsideD1(env, messages, now, err);
  }
  const shardOfEvent = new Map(placed.flatMap((p) => p.known.map((id) => [id, p.shard] as const)));
  const shardOfCall = new Map(placed.flatMap((p) => p.calls.map((call) => [call, p.shard] as const)));

  const stored: Stored[] = withBodies.map(({ message, body, payloadOf, columns }) => {
    const m = message.body;
    const doc = () => filterDocument({ id: m.event_id, type: m.type, tenant_id: m.tenant_id, received_at: m.received_at }, payloadOf());
    const wantedBy = (byTenant.get(m.tenant_id) ?? []).filter((d) => destinationWants(d, m.type, doc));
    const shard =
      shardOfEvent.get(m.event_id) ??
      (columns.callid === null ? undefined : shardOfCall.get(`${m.tenant_id}\n${columns.callid}`)) ??
      homeShard(env, m.tenant_id, columns.callid, m.event_id);
    return { message, body, known: shardOfEvent.has(m.event_id), columns, wantedBy, shard };
  });
  // `seq` numbers a call's events in the order they are stored: make that the order received.
  stored.sort((a, b) => a.message.body.received_at - b.message.body.received_at);

  // Before D1, so that no event row ever points at an object that is not there.
  const fresh = stored.filter((s, i) => !s.known && stored.findIndex((t) => t.message.body.event_id === s.message.body.event_id) === i);
  const refs = await writeBatch(env, fresh.map((s) => s.body), now);
  const refOf = new Map(fresh.map((s, i) => [s.message.body.event_id, refs[i]!]));
  const statements = new Map<Shard, D1PreparedStatement[]>(shardsOf(env).map((shard) => [shard, []]));
  const candidates = new Map<Shard, string[]>(shardsOf(env).map((shard) => [shard, []]));
  const withFanout = new Map<Shard, Set<string>>(shardsOf(env).map((shard) => [shard, new Set()]));
  const queued: { id: string; at: number }[] = [];
  const leaseUntil = now + leaseMs(env);
  for (const s of stored) {
    const m = s.message.body;
    const db = s.shard.db;
    // A rate-limited destination is paced by the deliveries consumer's send slots.
    const inline = s.wantedBy.filter((d) => d.enabled === 1 && d.consecutive_failures === 0 && d.rate_limit === null);
    const ref = refOf.get(m.event_id);
    if (ref !== undefined) {
      const event = { id: m.event_id, tenant_id: m.tenant_id, kind: m.kind, type: m.type, received_at: m.received_at, payload_ref: ref, ...s.columns };
      statements.get(s.shard)!.push(insertEvent(db, event, nonce, inline.map((d) => d.id), leaseUntil));
      if (inline.length) withFanout.get(s.shard)!.add(m.event_id);
    }
    for (const dest of s.wantedBy) {
      const id = deliveryIdFor(m.event_id, dest.id);
      const row = { id, event_id: m.event_id, destination_id: dest.id, tenant_id: m.tenant_id, status: dest.enabled ? "pending" : "held" } as const;
      const attemptHere = inline.includes(dest);
      statements.get(s.shard)!.push(insertDeliveryForNewEvent(db, row, nonce, now, attemptHere));
      if (attemptHere) candidates.get(s.shard)!.push(id);
      else if (dest.enabled) queued.push({ id, at: now });
    }
  }
  const states = destinationStates(destinationRows);
  let claimedRows: ClaimedDelivery[];
  let heldElsewhere: { id: string; fanout_until: number }[];
  try {
    const perShard = await fromD1(
      Promise.all(
        shardsOf(env).map(async (shard) => {
          const list = statements.get(shard)!;
          const known = [...shardOfEvent].filter(([, home]) => home === shard).map(([id]) => id);
          const ids = candidates.get(shard)!;
          const fanouts = [...withFanout.get(shard)!, ...known];
          // Only the reads with something to find: a batch of new events for
          // a tenant without destinations needs its inserts alone.
          const reads: Partial<Record<"abandoned" | "rows" | "inline" | "elsewhere", number>> = {};
          const batch = [...list];
          const read = (name: keyof typeof reads, statement: D1PreparedStatement) => {
            reads[name] = batch.push(statement) - 1;
          };
          if (known.length) {
            read("abandoned", abandonUnrecordedFanouts(shard.db, known, now));
            batch.push(takeOverFanouts(shard.db, known, nonce, now, leaseMs(env)));
          }
          if (ids.length) {
            // Deliveries an earlier invocation stored and then died before attempting, once their lease is over.
            batch.push(claimDueDeliveries(shard.db, ids, nonce, now, leaseMs(env), states));
            read("rows", claimedBy(shard.db, nonce, ids));
          }
          if (fanouts.length) read("inline", inlineClaimedBy(shard.db, nonce, fanouts));
          if (known.length) read("elsewhere", fanoutsHeldElsewhere(shard.db, known, nonce));
          if (batch.length === 0) return { claimed: [], abandoned: [], heldElsewhere: [] };
          const results = await shard.db.batch(batch);
          if (list.length) ctx.waitUntil(checkSize(env, shard.name, results[0]?.meta.size_after, now).catch(() => undefined));
          const resultOf = <T>(name: keyof typeof reads) => (reads[name] === undefined ? [] : (results[reads[name]]!.results as T[]));
          return {
            claimed: [
              ...resultOf<ClaimedDeliveryRow>("rows").map((c) => ({ ...c, shard })),
              ...resultOf<ClaimedDeliveryRow>("inline").map((c) => ({ ...c, shard, inline: true })),
            ],
            abandoned: resultOf<Unrecorded>("abandoned").map((a) => ({ ...a, shard })),
            heldElsewhere: resultOf<{ id: string; fanout_until: number }>("elsewhere"),
          };
        }),
      ),
    );
    claimedRows = perShard.flatMap((p) => p.claimed);
    heldElsewhere = perShard.flatMap((p) => p.heldElsewhere);
    for (const p of perShard) if (p.abandoned.length) await reportUnrecorded(env, ctx, p.abandoned[0]!.shard, p.abandoned, now);
    // Only once every event is stored: an inbox body is the only copy until then.
    const fromInbox = stored.filter((s) => s.message.body.body === undefined).map((s) => deleteInbox(env.DB, s.message.body.event_id));
    if (fromInbox.length) await fromD1(env.DB.batch(fromInbox));
  } catch (err) {
    return keepOutsideD1(env, messages, now, err);
  }
  // The first attempts send the bodies in memory; nothing just written is read
  // back, except for a fan-out taken on whose message no longer carries its body.
  const bodies = new Map(stored.map((s) => [s.message.body.event_id, s.body]));
  const claimed = await Promise.all(
    claimedRows.map(async (c) => ({ ...c, payload: bodies.get(c.event_id) ?? c.payload ?? (await readPayload(env, c, now)) })),
  );

  await scheduleRetries(env, queued, now);
  const unrecorded = await attemptInParallel(env, ctx, nonce, claimed, destinations);
  // A callback whose inline first attempts are not recorded (here, or by the
  // invocation that holds them) comes back once that lease is over, to be
  // taken on then: the queue message is what carries an unrecorded fan-out.
  const comeBack = new Map<string, number>([
    ...heldElsewhere.map((h) => [h.id, h.fanout_until] as const),
    ...[...unrecorded].map((id) => [id, leaseUntil] as const),
  ]);
  for (const m of messages) {
    const until = comeBack.get(m.body.event_id);
    if (until === undefined) m.ack();
    else m.retry({ delaySeconds: Math.max(1, Math.ceil((until - Date.now()) / 1000)) });
  }
}

/**
 * D1 refused: the batch goes to R2 and is acked there, so a callback answered
 * 200 outlives any D1 outage (the sweep hands it back once D1 takes writes).
 * Only if R2 refuses too does the queue retry it.
 */
async function keepOutsideD1(env: Env, messages: readonly Message<CallbackMessage>[], now: number, err: unknown): Promise<void> {
  if (!(err instanceof StorageUnavailable)) throw err;
  console.error(JSON.stringify({ level: "error", msg: "D1 refused a callbacks batch; kept in R2", count: messages.length, error: err.message }));
  await spoolCallbacks(env, messages.map((m) => m.body), now);
  for (const m of messages) m.ack();
}
