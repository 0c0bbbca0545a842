import { gzipSync } from "node:zlib";
import { config, type Env } from "../env";

/*
 * Callback bodies in R2. A consumer batch writes one object,
 * `payloads/<UTC date>/<now>-<nonce>.gz`, the concatenation of one gzip
 * member per body: an R2 write costs more than a D1 row, so one per batch,
 * not per event. An event row holds `<key>#<offset>+<length>`, and a body
 * is read back with a range get of its own member alone.
 */

const PREFIX = "payloads/";
const DAY_MS = 86_400_000;

/** What a read needs of an event row. Rows stored before payloads moved to R2 hold `payload` itself. */
export interface PayloadSource {
  payload: string | null;
  payload_ref: string | null;
  payload_state: "kept" | "purged" | "erased";
  received_at: number;
}

interface Ref {
  key: string;
  offset: number;
  length: number;
}

const refText = (r: Ref) => `${r.key}#${r.offset}+${r.length}`;

function parseRef(ref: string): Ref {
  const hash = ref.lastIndexOf("#");
  const [offset, length] = ref.slice(hash + 1).split("+").map(Number);
  return { key: ref.slice(0, hash), offset: offset!, length: length! };
}

// zlib's one call per body, not a CompressionStream: in workerd a stream per
// 10 KB callback takes 184 µs where the call at the same level takes 77, and
// a batch has up to 100 bodies. The output is the same gzip member. Level 1
// takes 25 µs (`npm run bench:gzip`) for 26 % more bytes: the consumer's CPU
// limits throughput, while R2 bytes are a small part of the bill (docs/COST.md).
const gzip = (text: string) => gzipSync(text, { level: 1 });

const gunzip = (bytes: ReadableStream | Uint8Array) =>
  new Response((bytes instanceof Uint8Array ? new Blob([bytes]).stream() : bytes).pipeThrough(new DecompressionStream("gzip"))).text();

/**
 * Puts one batch's bodies in one object; answers each body's ref, in order.
 * Resolved means every body is durable; a failed put throws, and the queue
 * retries the batch.
 */
export async function writeBatch(env: Env, bodies: readonly string[], now = Date.now()): Promise<string[]> {
  if (bodies.length === 0) return [];
  const members = await Promise.all(bodies.map(gzip));
  const key = `${PREFIX}${new Date(now).toISOString().slice(0, 10)}/${now.toString().padStart(15, "0")}-${crypto.randomUUID()}.gz`;
  const object = new Uint8Array(members.reduce((n, m) => n + m.byteLength, 0));
  const refs: string[] = [];
  let offset = 0;
  for (const m of members) {
    object.set(m, offset);
    refs.push(refText({ key, offset, length: m.byteLength }));
    offset += m.byteLength;
  }
  await env.STORE.put(key, object);
  return refs;
}

/**
 * The state a reader sees. An R2-held payload past RETENTION_DAYS is
 * purged whether or not its object is deleted yet: the state is derived
 * here rather than written to each event row, because writing it would be
 * one D1 row per event (plus an index to find them) for nothing a read
 * cannot work out from `received_at`.
 */
export function payloadStateOf(
  env: Env,
  row: Omit<PayloadSource, "payload">,
  now = Date.now(),
): PayloadSource["payload_state"] {
  const expired = row.payload_ref !== null && row.received_at < now - config(env).RETENTION_DAYS * DAY_MS;
  return row.payload_state === "kept" && expired ? "purged" : row.payload_state;
}

/** The body as received, or null when it is purged or erased (its object gone counts as purged). */
export async function readPayload(env: Env, row: PayloadSource, now = Date.now()): Promise<string | null> {
  if (row.payload !== null) return row.payload;
  if (row.payload_ref === null || payloadStateOf(env, row, now) !== "kept") return null;
  const ref = parseRef(row.payload_ref);
  const object = await env.STORE.get(ref.key, { range: { offset: ref.offset, length: ref.length } });
  return object ? gunzip(object.body) : null;
}

/**
 * Reads the members of these refs a whole object at a time (a page of a
 * tenant's events shares a few batch objects), for erase. A member that is
 * all zero bytes was erased already: an erase that stopped between R2 and
 * D1 finds it again and finishes in D1. A missing object answers nothing.
 */
export async function readMembers(env: Env, refs: readonly string[]): Promise<Map<string, string | "erased">> {
  const byKey = groupByKey(refs);
  const out = new Map<string, string | "erased">();
  await Promise.all(
    [...byKey].map(async ([key, members]) => {
      const object = await env.STORE.get(key);
      if (!object) return;
      const bytes = new Uint8Array(await object.arrayBuffer());
      for (const m of members) {
        const member = bytes.subarray(m.offset, m.offset + m.length);
        out.set(refText(m), member.every((b) => b === 0) ? "erased" : await gunzip(member.slice()));
      }
    }),
  );
  return out;
}

/**
 * Zeroes these members in their objects, rewriting each object once.
 * Nothing reads a zeroed member again (its event row says erased); the
 * other members keep their offsets, so their refs stay valid.
 */
export async function eraseMembers(env: Env, refs: readonly string[]): Promise<void> {
  await Promise.all(
    [...groupByKey(refs)].map(async ([key, members]) => {
      const object = await env.STORE.get(key);
      if (!object) return;
      const bytes = new Uint8Array(await object.arrayBuffer());
      for (const m of members) bytes.fill(0, m.offset, m.offset + m.length);
      await env.STORE.put(key, bytes);
    }),
  );
}

function groupByKey(refs: readonly string[]): Map<string, Ref[]> {
  const byKey = new Map<string, Ref[]>();
  for (const ref of refs) {
    const r = parseRef(ref);
    byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
  }
  return byKey;
}

/**
 * Retention of the objects themselves: deletes the objects written before
 * `before`, at most `limit` a call, oldest first. Every body in an object was
 * received before the object was written (the time in its key), so none of
 * them is younger than RETENTION_DAYS. Keys sort by that time within a day,
 * so a day is walked only up to its first object not yet due. In production
 * an R2 lifecycle rule on `payloads/` does the same a day later; this keeps a
 * bucket without one (and local runs, with retention of minutes) inside
 * RETENTION_DAYS too.
 */
export async function deletePayloadsBefore(env: Env, before: number, limit: number): Promise<number> {
  let deleted = 0;
  const days = await env.STORE.list({ prefix: PREFIX, delimiter: "/" });
  for (const day of days.delimitedPrefixes) {
    if (deleted >= limit || !(Date.parse(day.slice(PREFIX.length, -1)) < before)) break;
    const objects = (await env.STORE.list({ prefix: day, limit: limit - deleted })).objects;
    const due = objects.filter((o) => Number(o.key.slice(day.length, day.length + 15)) < before).map((o) => o.key);
    if (due.length) await env.STORE.delete(due);
    deleted += due.length;
    if (due.length < objects.length) break;
  }
  return deleted;
}
