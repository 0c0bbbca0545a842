import { z } from "zod";
import { open, seal } from "../crypto/secret-box";
import { ERASE_TABLES, erasePage, eraseEventsById, eventsErasePage, type ErasePosition, type EraseTable } from "../db/privacy";
import { shardAt, shardsOf } from "../db/shards";
import type { Env } from "../env";
import { eraseMembers, readMembers } from "../storage/payloads";
import type { EraseJob } from "../queue-messages";

/**
 * Rows one erase statement reads at most. A page of payloads of a few KiB
 * each is milliseconds of D1 time; a whole large tenant in one statement is
 * what ran into D1's 30 s limit.
 */
export const ERASE_PAGE = 1000;
/**
 * How long one request or queue message keeps erasing before it hands the
 * rest to the next message: an operator waits at most this long for an
 * answer, and a consumer stays far inside its limits.
 */
export const ERASE_BUDGET_MS = 10_000;

interface EraseState {
  tenant_id: string;
  needles: readonly string[];
  table: EraseTable;
  /** For events: the shard being walked (they are walked one after another). */
  shard?: number;
  after?: ErasePosition;
}

export interface EraseProgress {
  /** Events erased by this call (not by the ones before or after it). */
  event_ids: string[];
  /** False when the rest is on the deliveries queue as an erase job. */
  complete: boolean;
}

/** Erases these spellings of a number from a tenant's data, as far as the budget goes, and queues the rest. */
export const startErase = (env: Env, tenantId: string, needles: readonly string[], budgetMs = ERASE_BUDGET_MS) =>
  eraseFor(env, { tenant_id: tenantId, needles, table: ERASE_TABLES[0] }, budgetMs);

/**
 * Goes on with an erase job taken from the deliveries queue. A page done
 * twice (a message delivered again) finds nothing left to erase on it.
 */
export async function continueErase(env: Env, job: EraseJob, budgetMs = ERASE_BUDGET_MS): Promise<EraseProgress> {
  const needles = z.array(z.string()).parse(JSON.parse(await open(job.needles_sealed, env)));
  return eraseFor(env, { tenant_id: job.tenant_id, needles, table: job.table, shard: job.shard, after: job.after }, budgetMs);
}

/** Pages until the walk ends or the budget is spent; always at least one page, so that every message makes progress. */
async function eraseFor(env: Env, start: EraseState, budgetMs: number): Promise<EraseProgress> {
  const deadline = Date.now() + budgetMs;
  const eventIds: string[] = [];
  let at: EraseState | null = start;
  do {
    let next: ErasePosition | null;
    if (at.table === "events") {
      const page = await eraseEventsPage(env, at);
      eventIds.push(...page.erased);
      next = page.next;
    } else {
      next = await erasePage(env.DB, at.table, at.tenant_id, at.needles, at.after, ERASE_PAGE);
    }
    at = next ? { ...at, after: next } : nextTable(env, at);
  } while (at && Date.now() < deadline);
  if (at) await env.DELIVERIES_QUEUE.send(await jobOf(env, at), { contentType: "json" });
  return { event_ids: eventIds, complete: at === null };
}

/**
 * One page of the tenant's events. Payloads in R2 are read a whole batch
 * object at a time and tested here; the members holding the number are
 * zeroed in their objects before D1 marks their events erased, so an erase
 * cut short between the two finds the zeroed members on its next try and
 * finishes in D1 (R2 first: the other order could leave the number in R2 with
 * its event already marked erased, never looked at again).
 */
async function eraseEventsPage(env: Env, at: EraseState): Promise<{ erased: string[]; next: ErasePosition | null }> {
  const db = shardAt(env, at.shard).db;
  const page = await eventsErasePage(db, at.tenant_id, at.needles, at.after, ERASE_PAGE);
  const inR2 = page.rows.filter((r) => r.payload_ref !== null);
  const bodies = await readMembers(env, inR2.map((r) => r.payload_ref!));
  const toZero: string[] = [];
  const matched = page.rows.filter((r) => r.holds === 1).map((r) => r.id);
  for (const r of inR2) {
    const body = bodies.get(r.payload_ref!);
    if (body === undefined) continue;
    if (body !== "erased" && !holdsNumber(body, at.needles)) continue;
    matched.push(r.id);
    if (body !== "erased") toZero.push(r.payload_ref!);
  }
  await eraseMembers(env, toZero);
  return { erased: await eraseEventsById(db, matched), next: page.next };
}

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";

/**
 * The number as a whole number in `text`: not inside a longer digit run,
 * which would be somebody else's number. The same rule as SQL's holdsNumber
 * in src/db/privacy.ts, which tests payloads still held in D1.
 */
export function holdsNumber(text: string, needles: readonly string[]): boolean {
  return needles.some((n) => {
    for (let i = text.indexOf(n); i !== -1; i = text.indexOf(n, i + 1)) {
      if (!isDigit(text[i - 1]) && !isDigit(text[i + n.length])) return true;
    }
    return false;
  });
}

function nextTable(env: Env, at: EraseState): EraseState | null {
  const shard = (at.shard ?? 0) + 1;
  if (at.table === "events" && shard < shardsOf(env).length) return { tenant_id: at.tenant_id, needles: at.needles, table: "events", shard };
  const table = ERASE_TABLES[ERASE_TABLES.indexOf(at.table) + 1];
  return table ? { tenant_id: at.tenant_id, needles: at.needles, table } : null;
}

/**
 * The number travels sealed with ENCRYPTION_KEY. In clear it would sit in
 * the queue for as long as the job waits or retries, and a job that exhausts
 * its retries is kept verbatim in dead_letters (for RETENTION_DAYS), which
 * would leave behind the very number being erased.
 */
const jobOf = async (env: Env, at: EraseState): Promise<EraseJob> => ({
  t: "erase",
  tenant_id: at.tenant_id,
  needles_sealed: await seal(JSON.stringify(at.needles), env.ENCRYPTION_KEY),
  table: at.table,
  ...(at.shard ? { shard: at.shard } : {}),
  ...(at.after ? { after: at.after } : {}),
});
