import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, expect, vi } from "vitest";
import type { DeliveryRow } from "../src/db/deliveries";
import { getEvent } from "../src/db/events";
import { deliveryIdFor } from "../src/delivery/routing";
import type { Env } from "../src/env";
import { deliveryDetail, findDelivery } from "../src/query/deliveries";
import { eventDetail } from "../src/query/events";
import { eventIdFor } from "../src/ingest/event-id";
import worker from "../src/index";
import type { CallbackMessage, DeliveryJob, DeliveryMessage } from "../src/queue-messages";
import { readPayload } from "../src/storage/payloads";
import sample from "./fixtures/inbound-transfer.sample.json?raw";
import { everyDatabase } from "./every-database";

const SAMPLE_CALLID = "888d4df71e7744d7bd03080aea48ea9d";

export const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}` };

export function call(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(`https://relay.test${path}`, init));
}

export async function admin<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await call(path, {
    method,
    headers: { ...ADMIN, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

let counter = 0;
export const uniqueId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`;

export async function createTenant(id = uniqueId("t")): Promise<{ id: string; token: string }> {
  const res = await admin<{ id: string; ingest_token: string }>("POST", "/v1/admin/tenants", { id, name: `Tenant ${id}` });
  if (res.status !== 201) throw new Error(`tenant not created: ${res.status} ${JSON.stringify(res.body)}`);
  return { id, token: res.body.ingest_token };
}

export async function createDestination(tenant: string, body: Record<string, unknown>) {
  const res = await admin<{ id: string; secret: string }>("POST", `/v1/admin/tenants/${tenant}/destinations`, body);
  if (res.status !== 201) throw new Error(`destination not created: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export function postCallback(tenant: string, kind: string, body: string, token: string, headers: Record<string, string> = {}) {
  return call(`/v1/callbacks/${tenant}/${kind}?token=${encodeURIComponent(token)}`, {
    method: "POST",
    headers: { "content-type": "application/json", "user-agent": "Airudder", ...headers },
    body,
  });
}

export interface CapturedRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  at: number;
  /** The relay's abort signal (its attempt timeout). */
  signal: AbortSignal;
}

/** A CRM that never answers: the request ends only when the relay gives up on it. */
export const hangUntilAborted: CrmHandler = (req) =>
  new Promise((_, reject) => req.signal.addEventListener("abort", () => reject(req.signal.reason)));

export type CrmHandler = (req: CapturedRequest) => Response | Promise<Response>;

/** Fake CRMs by host; one fetch spy serves them all, and passes every other request through. */
const crmHosts = new Map<string, (req: Request) => Promise<Response>>();
const realFetch = globalThis.fetch;
vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
  const req = new Request(input as RequestInfo, init as RequestInit);
  const crm = crmHosts.get(new URL(req.url).host);
  return crm ? crm(req) : realFetch(req);
});

/**
 * The far end of the network: a fake CRM at `https://<unique>.crm.test/`.
 * Requests to it are captured and answered by `handler` (which can be
 * swapped with `answer`); the relay's code runs unchanged.
 */
export function fakeCrm(handler: CrmHandler = () => new Response("ok")) {
  const host = `${uniqueId("crm")}.crm.test`;
  const requests: CapturedRequest[] = [];
  let current = handler;
  crmHosts.set(host, async (req) => {
    const captured = { url: req.url, headers: Object.fromEntries(req.headers), body: await req.text(), at: Date.now(), signal: req.signal };
    requests.push(captured);
    return current(captured);
  });
  return {
    host,
    url: (path = "/hook") => `https://${host}${path}`,
    requests,
    answer(next: CrmHandler) {
      current = next;
    },
    restore: () => crmHosts.delete(host),
  };
}

export async function waitUntil<T>(probe: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  return vi.waitFor(
    async () => {
      const v = await probe();
      if (!v) throw new Error("not yet");
      return v;
    },
    { timeout: timeoutMs, interval: 50 },
  );
}

export type Tenant = Awaited<ReturnType<typeof createTenant>>;

/** The doc's sample with a call id of its own, so that every callback is a new event. */
export const freshCallback = () => sample.replace(SAMPLE_CALLID, crypto.randomUUID().replace(/-/g, ""));

/**
 * Fake CRMs and destinations that are removed after each test, so that
 * retries still queued from one test find nothing to send in the next.
 */
export function cleanedUpAfterEach() {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const undo of cleanup.splice(0).reverse()) await undo();
  });
  return {
    crm(handler?: CrmHandler) {
      const c = fakeCrm(handler);
      cleanup.push(() => c.restore());
      return c;
    },
    async destination(tenant: Tenant, body: Record<string, unknown>) {
      const d = await createDestination(tenant.id, body);
      cleanup.push(() => admin("DELETE", `/v1/admin/destinations/${d.id}`));
      return d;
    },
  };
}

/** A delivery row as D1 holds it, claim included. */
export type StoredDelivery = DeliveryRow & { lease_owner: string | null; lease_until: number | null };

/**
 * A delivery as D1 holds it: its row, claim included, or, for a first attempt
 * delivered inline (no row), the delivery the relay derives from its event.
 */
export async function deliveryById(id: string): Promise<StoredDelivery | null> {
  const row = await everyDatabase.prepare("SELECT * FROM deliveries WHERE id = ?1").bind(id).first<StoredDelivery>();
  if (row) return row;
  const derived = await findDelivery(env, id);
  if (!derived) return null;
  const { shard: _shard, ...delivery } = derived;
  return { ...delivery, lease_owner: null, lease_until: null };
}

export const deliveryOf = (eventId: string, destinationId: string) => deliveryById(deliveryIdFor(eventId, destinationId));

/** An event's deliveries with their attempts, stored and derived, as every reader of the relay sees them. */
export async function deliveriesOfEvent(eventId: string) {
  return (await eventDetail(env, eventId))?.deliveries ?? [];
}

/** Every attempt of a delivery, oldest first (the inline first attempt included). */
export async function attemptsOfDelivery(deliveryId: string) {
  return (await deliveryDetail(env, deliveryId))?.attempts ?? [];
}

/** Posts a callback (a fresh one by default) and answers its event id, expecting a 200. */
export async function sendCallback(tenant: Tenant, body = freshCallback(), kind = "inbound-transfer"): Promise<string> {
  const res = await postCallback(tenant.id, kind, body, tenant.token);
  if (res.status !== 200) throw new Error(`callback refused: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { event_id: string }).event_id;
}

/**
 * The Worker's env, with a deliveries queue that records what is sent instead
 * of sending it: the test plays the queue, and no real consumer (with the
 * default settings) races it for the same delivery.
 */
export function drivenEnv(vars: Partial<Record<keyof Env, string>> = {}) {
  const sent: MessageSendRequest<DeliveryMessage | DeliveryJob>[] = [];
  const queue = {
    send: async (body: DeliveryMessage | DeliveryJob, options?: QueueSendOptions) => void sent.push({ body, ...options }),
    sendBatch: async (messages: Iterable<MessageSendRequest<DeliveryMessage | DeliveryJob>>) => void sent.push(...messages),
  };
  return { env: { ...env, ...vars, DELIVERIES_QUEUE: queue as unknown as Env["DELIVERIES_QUEUE"] } as Env, sent };
}

/** One batch of the deliveries queue, handed to the consumer as Cloudflare would. */
export async function deliver(e: Env, deliveryIds: readonly string[], messageIds = deliveryIds.map(() => uniqueId("msg"))) {
  const batch = createMessageBatch<DeliveryMessage>(
    "airudder-relay-deliveries",
    deliveryIds.map((delivery_id, i) => ({ id: messageIds[i]!, timestamp: new Date(), attempts: 1, body: { t: "delivery", delivery_id } })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, e, ctx);
  return getQueueResult(batch, ctx);
}


/** An event's stored body as the relay reads it back (R2, or the row of an event stored before payloads moved there). */
export async function storedPayload(eventId: string, e: Env = env): Promise<string | null> {
  const row = await getEvent(everyDatabase, eventId);
  if (!row) throw new Error(`no event ${eventId}`);
  return readPayload(e, row);
}

/** The message the ingest route would have sent for this body (`inline`: the body in the message, not the inbox). */
export async function callbackMessage(
  tenantId: string,
  body: string,
  { inline = true, receivedAt = Date.now() }: { inline?: boolean; receivedAt?: number } = {},
): Promise<CallbackMessage> {
  return {
    t: "callback",
    event_id: await eventIdFor(tenantId, body),
    tenant_id: tenantId,
    kind: "inbound-transfer",
    type: "airudder.inbound.transfer",
    received_at: receivedAt,
    ...(inline ? { body } : {}),
  };
}

/** The callbacks consumer over these bodies, as one queue batch. */
export async function storeBatch(e: Env, tenantId: string, bodies: readonly string[]): Promise<string[]> {
  const messages = await Promise.all(
    bodies.map(async (body, i) => ({
      id: `m${i}`,
      timestamp: new Date(),
      attempts: 1,
      body: {
        t: "callback",
        event_id: await eventIdFor(tenantId, body),
        tenant_id: tenantId,
        kind: "inbound-transfer",
        type: "airudder.inbound.transfer",
        received_at: Date.now() + i,
        body,
      } satisfies CallbackMessage,
    })),
  );
  const batch = createMessageBatch<CallbackMessage>("airudder-relay-callbacks", messages);
  const ctx = createExecutionContext();
  await worker.queue(batch, e, ctx);
  const result = await getQueueResult(batch, ctx);
  expect(result.explicitAcks).toHaveLength(bodies.length);
  return messages.map((m) => m.body.event_id);
}

/**
 * The database refusing every batch that holds a statement whose SQL
 * contains `sqlFragment`, as D1 does when it is unavailable; everything else
 * goes through.
 */
export function refusingBatches(db: D1Database, sqlFragment: string): D1Database {
  const sqlOf = new WeakMap<D1PreparedStatement, string>();
  const track = (stmt: D1PreparedStatement, sql: string): D1PreparedStatement => {
    sqlOf.set(stmt, sql);
    const bind = stmt.bind.bind(stmt);
    stmt.bind = (...values: unknown[]) => track(bind(...values), sql);
    return stmt;
  };
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => track(target.prepare(sql), sql);
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          if (statements.some((s) => sqlOf.get(s)?.includes(sqlFragment))) throw new Error("D1_ERROR: Network connection lost.");
          return target.batch(statements);
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
