import type { Env } from "../env";

/*
 * Event data (events, deliveries, attempts) is spread over the D1 databases
 * named in EVENT_SHARDS; tenants, destinations, quarantine, the inbox, dead
 * letters and the hourly counters stay in the control database (DB).
 *
 * A call's events go to one shard, so that its `seq` and its in-order
 * delivery are decided inside one database: the shard where the call already
 * is, else the one its (tenant, callid) hashes to. An event without a callid
 * hashes by its id. A delivery lives with its event. Adding a shard is a
 * binding and a name in EVENT_SHARDS: nothing moves, because reads by id ask
 * every shard, listings merge every shard, and a call that is under way stays
 * where it started. Removing one is not supported (its rows would be lost).
 */

export interface Shard {
  /** Position in EVENT_SHARDS: what queue messages and jobs carry. */
  index: number;
  name: string;
  db: D1Database;
}

const cache = new WeakMap<Env, Shard[]>();

/** The event shards, in EVENT_SHARDS order. A name with no D1 binding is a configuration error, said at once. */
export function shardsOf(env: Env): Shard[] {
  let shards = cache.get(env);
  if (!shards) {
    const names = (env.EVENT_SHARDS ?? "DB").split(",").map((n) => n.trim()).filter(Boolean);
    const bindings = env as unknown as Record<string, unknown>;
    shards = names.map((name, index) => {
      const db = bindings[name] as D1Database | undefined;
      if (typeof db?.prepare !== "function") throw new Error(`EVENT_SHARDS names ${name}, which is not a D1 binding of this Worker`);
      return { index, name, db };
    });
    if (shards.length === 0) throw new Error("EVENT_SHARDS names no D1 binding");
    cache.set(env, shards);
  }
  return shards;
}

/** The shard at this position (from a queue message or job); the first when the position is unknown. */
export function shardAt(env: Env, index: number | undefined): Shard {
  const shards = shardsOf(env);
  return shards[index ?? 0] ?? shards[0]!;
}

/** FNV-1a: a stable spread of keys over the shards, the same in every invocation and deploy. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Where a new call (or an event without a callid) goes. */
export function homeShard(env: Env, tenantId: string, callid: string | null, eventId: string): Shard {
  const shards = shardsOf(env);
  return shards[hash(callid === null ? eventId : `${tenantId}\n${callid}`) % shards.length]!;
}

/** The control database and every event shard, each once (`DB` may itself be named a shard). */
export const everyDatabase = (env: Env): D1Database[] => [env.DB, ...shardsOf(env).map((s) => s.db).filter((db) => db !== env.DB)];

/** Runs `read` on every shard at once; answers each shard's result in shard order. */
export function onEveryShard<T>(env: Env, read: (shard: Shard) => Promise<T>): Promise<T[]> {
  return Promise.all(shardsOf(env).map(read));
}

/** The first non-null answer of `read` over the shards (a row found by its id lives in one). */
export async function findInShards<T>(env: Env, read: (shard: Shard) => Promise<T | null>): Promise<(T & { shard: Shard }) | null> {
  const found = await onEveryShard(env, async (shard) => {
    const row = await read(shard);
    return row === null ? null : { ...row, shard };
  });
  return found.find((r) => r !== null) ?? null;
}

/**
 * Merges pages read from every shard with the same keyset position, newest
 * first: each shard answers up to `limit + 1` rows after the position, and
 * the merged first `limit + 1` are exactly what one database would answer.
 */
export function mergeNewestFirst<T>(pages: T[][], key: (row: T) => [number, string], limit: number): T[] {
  return pages
    .flat()
    .sort((a, b) => {
      const [ta, ia] = key(a);
      const [tb, ib] = key(b);
      return tb - ta || (ib < ia ? -1 : ib > ia ? 1 : 0);
    })
    .slice(0, limit + 1);
}
