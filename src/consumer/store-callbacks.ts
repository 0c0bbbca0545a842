import type { EventColumns } from "../callbacks/columns";
import { families, type FamilyKind } from "../callbacks/families";
import { claimDueDeliveries, claimedBy, insertDeliveryForNewEvent, type ClaimedDelivery } from "../db/deliveries";
import { destinationsOfTenants, type DestinationRow } from "../db/destinations";
import { insertEvent, storedEventIds } from "../db/events";
import { deleteInbox, inboxBodies } from "../db/inbox";
import { attemptInParallel, leaseMs } from "../delivery/attempt-claimed";
import { scheduleRetries } from "../delivery/schedule-retries";
import { deliveryIdFor, destinationWants, filterDocument } from "../delivery/routing";
import type { Env } from "../env";
import type { CallbackMessage } from "../queue-messages";
import { checkSize, fromD1, spoolCallbacks, StorageUnavailable } from "../storage/outage";
import { writeBatch } from "../storage/payloads";

interface Stored {
  message: Message<CallbackMessage>;
  body: string;
  /** Stored by an earlier invocation (a redelivered message, or AiRudder sending it again). */
  known: boolean;
  columns: EventColumns;
  /** The tenant's destinations that want this event (event types and payload filter). */
  wantedBy: DestinationRow[];
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

  let read: [{ event_id: string; body: string }[], DestinationRow[], { id: string }[]];
  try {
    read = await fromD1(
      Promise.all([
        needInbox.length ? inboxBodies(env.DB, needInbox).then((r) => r.results) : Promise.resolve([]),
        destinationsOfTenants(env.DB, tenants).all<DestinationRow>().then((r) => r.results),
        // A callback sent again (AiRudder retries) is already stored: a second
        // copy of its body in R2 would be one an erase never finds.
        storedEventIds(env.DB, messages.map((m) => m.body.event_id)).all<{ id: string }>().then((r) => r.results),
      ]),
    );
  } catch (err) {
    return keepOutsideD1(env, messages, now, err);
  }
  const [inbox, destinationRows, known] = read;
  const alreadyStored = new Set(known.map((r) => r.id));
  const inboxById = new Map(inbox.map((r) => [r.event_id, r.body]));
  const byTenant = new Map<string, DestinationRow[]>();
  for (const d of destinationRows) byTenant.set(d.tenant_id, [...(byTenant.get(d.tenant_id) ?? []), d]);
  const destinations = new Map(destinationRows.map((d) => [d.id, d]));

  const stored: Stored[] = [];
  for (const message of messages) {
    const m = message.body;
    const body = m.body ?? inboxById.get(m.event_id);
    // No body anywhere: an inbox reference whose event an earlier invocation already stored.
    if (body === undefined) continue;
    const payload = JSON.parse(body) as Record<string, unknown>;
    const doc = filterDocument({ id: m.event_id, type: m.type, tenant_id: m.tenant_id, received_at: m.received_at }, payload);
    const wantedBy = (byTenant.get(m.tenant_id) ?? []).filter((d) => destinationWants(d, m.type, doc));
    stored.push({ message, body, known: alreadyStored.has(m.event_id), columns: columnsOf(m.kind, payload), wantedBy });
  }
  // `seq` numbers a call's events in the order they are stored: make that the order received.
  stored.sort((a, b) => a.message.body.received_at - b.message.body.received_at);

  // Before D1, so that no event row ever points at an object that is not there.
  const fresh = stored.filter((s, i) => !s.known && stored.findIndex((t) => t.message.body.event_id === s.message.body.event_id) === i);
  const refs = await writeBatch(env, fresh.map((s) => s.body), now);
  const refOf = new Map(fresh.map((s, i) => [s.message.body.event_id, refs[i]!]));
  const statements: D1PreparedStatement[] = [];
  const inline: string[] = [];
  const queued: { id: string; at: number }[] = [];
  const leaseUntil = now + leaseMs(env);
  for (const s of stored) {
    const m = s.message.body;
    const ref = refOf.get(m.event_id);
    if (ref !== undefined) {
      statements.push(
        insertEvent(env.DB, { id: m.event_id, tenant_id: m.tenant_id, kind: m.kind, type: m.type, received_at: m.received_at, payload_ref: ref, ...s.columns }, nonce),
      );
    }
    for (const dest of s.wantedBy) {
      const id = deliveryIdFor(m.event_id, dest.id);
      // A rate-limited destination is paced by the deliveries consumer's send slots.
      const attemptHere = dest.enabled === 1 && dest.consecutive_failures === 0 && dest.rate_limit === null;
      statements.push(
        insertDeliveryForNewEvent(
          env.DB,
          { id, event_id: m.event_id, destination_id: dest.id, tenant_id: m.tenant_id, status: dest.enabled ? "pending" : "held" },
          nonce,
          now,
          attemptHere ? leaseUntil : null,
        ),
      );
      if (attemptHere) inline.push(id);
      else if (dest.enabled) queued.push({ id, at: now });
    }
    if (m.body === undefined) statements.push(deleteInbox(env.DB, m.event_id));
  }
  // Deliveries an earlier invocation stored and then died before attempting, once their lease is over.
  statements.push(claimDueDeliveries(env.DB, inline, nonce, now, leaseMs(env)), claimedBy(env.DB, nonce, inline));
  let results: D1Result[];
  try {
    results = await fromD1(env.DB.batch(statements));
  } catch (err) {
    return keepOutsideD1(env, messages, now, err);
  }
  // The first attempts send the bodies in memory; nothing just written is read back.
  const bodies = new Map(stored.map((s) => [s.message.body.event_id, s.body]));
  const claimed = (results.at(-1)!.results as ClaimedDelivery[]).map((c) => ({ ...c, payload: bodies.get(c.event_id) ?? null }));
  ctx.waitUntil(checkSize(env, results[0]?.meta.size_after, now).catch(() => undefined));

  await scheduleRetries(env, queued, now);
  await attemptInParallel(env, ctx, nonce, claimed, destinations);
  for (const m of messages) m.ack();
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
