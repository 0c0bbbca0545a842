#!/usr/bin/env node
// What the relay costs and where it stops: the per-callback figures that
// `npm run bench:d1-rows` measured on the relay's own code and schema
// (bench/results/d1-rows.json), turned into bills and limits with Cloudflare's
// list prices and limits (below, each with the page it comes from). Pure
// arithmetic: it starts nothing. docs/COST.md and docs/SCALING.md paste its tables.
//
//   npm run bench:capacity
//   CAPACITY_PEAK_FACTOR=5 CAPACITY_CRM_LATENCY_MS=800 METADATA_RETENTION_DAYS=90 npm run bench:capacity
//   npm run bench:capacity -- --docs    also replaces, in docs/COST.md and docs/SCALING.md, every
//                                       fenced block whose first line is the title of a block printed here
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fmt, table } from "./lib/stats.mjs";

const printed = [];
/** Prints, and keeps the text for --docs. */
const log = (text) => {
  printed.push(text);
  console.log(text);
};

const resultsPath = join(import.meta.dirname, "results", "d1-rows.json");
let measured;
try {
  measured = JSON.parse(readFileSync(resultsPath, "utf8"));
} catch (err) {
  console.error(`cannot read ${resultsPath} (${err.message}): run \`npm run bench:d1-rows\` first`);
  process.exit(1);
}

const num = (name, fallback) => (process.env[name] ? Number(process.env[name]) : fallback);

// ---- assumptions (each can be set from the environment) ----
/** Busiest second over the average second of the month: contact centres work office hours. */
const peakFactor = num("CAPACITY_PEAK_FACTOR", 10);
/** How long payloads are kept in R2 (the relay's RETENTION_DAYS, default 30). */
const retentionDays = num("RETENTION_DAYS", 30);
/** How long event records are kept in D1 (METADATA_RETENTION_DAYS, default RETENTION_DAYS). */
const metadataDays = num("METADATA_RETENTION_DAYS", retentionDays);
/** Time until a CRM's response headers arrive. */
const crmLatencyMs = num("CAPACITY_CRM_LATENCY_MS", 300);
/** Tenants the sweep walks every minute (its expiry is one D1 call per tenant and shard). */
const tenants = num("CAPACITY_TENANTS", 100);
/** The single tenant whose fit is checked. */
const bigTenant = num("CAPACITY_TENANT_VOLUME", 30e6);
const volumes = (process.env.CAPACITY_VOLUMES ?? "1e6,1e7,1e8").split(",").map(Number);
const extra = process.env.CAPACITY_DESTINATIONS ? [Number(process.env.CAPACITY_DESTINATIONS)] : [];
const DS = [...new Set([1, 3, 10, ...extra])].sort((a, b) => a - b);
/**
 * CPU per callback (ingest, gzip, storing, signing, fetch): NOT measured by bench:d1-rows. The upper
 * bound of an earlier `npm run bench` smoke run (local workerd CPU above the bare Worker's, Miniflare's
 * D1 and queue simulators included). At $0.02 per million CPU-ms it moves the bill by cents.
 */
const cpuMs = (d) => num("CAPACITY_CPU_MS_BASE", 1.5) + num("CAPACITY_CPU_MS_PER_DESTINATION", 0.5) * d;
/** A shard's single writer counts as full at this share of each second at the peak (the same 80 % as the storage alert). */
const WRITER_FULL = num("CAPACITY_WRITER_FULL", 0.8);
/**
 * One control-database round trip on D1's writer. D1's own rule of thumb ("If your average query
 * takes 1 ms, you can run approximately 1,000 queries per second", d1/platform/limits FAQ); the
 * measured SQL time of the control statements is below the local timer's 1 ms resolution.
 */
const CONTROL_MS_PER_CALL = 1;
const TARGET_PER_MILLION = 6;

// ---- the relay's own settings (not measured; named with their source) ----
/** wrangler.toml, the callbacks consumer: max_batch_size and max_batch_timeout (seconds). */
const BATCH = 100;
const BATCH_TIMEOUT_S = 0.5;
/** wrangler.toml: the Cron Trigger runs the sweep every minute. */
const SWEEPS_PER_MONTH = 30 * 1440;
/**
 * src/maintenance/sweep.ts: D1 calls of one sweep besides expiry: per shard overdue, held releases and
 * purge (3); in the control database the storage probe, destinations, inbox, purge and tenant pages (about 5).
 */
const SWEEP_CALLS_PER_SHARD = 3;
/** Expiry goes a page of tenants at a time: one D1 call per shard for each 100 tenants (src/maintenance/sweep.ts). */
const TENANTS_PER_EXPIRY_CALL = 100;
const SWEEP_CALLS_CONTROL = 5;
/** src/maintenance/sweep.ts: expiry removes up to PURGE_ROUNDS × PURGE_BATCH events per tenant and shard a sweep. */
const EXPIRY_PER_TENANT_SHARD_SWEEP = 10 * 1000;
/** R2 calls of one sweep: the storage state get (Class B) and the payload object listings of deletePayloadsBefore (about 2 Class A). */
const SWEEP_R2_CLASS_A = 2;
const SWEEP_R2_CLASS_B = 1;
/** wrangler.toml INGEST_LIMITER (100 per 10 s) × src/http/rate-limit.ts INGEST_LIMIT_SAMPLE (1 request in 100 consults it): per tenant per location. */
const INGEST_LIMIT_PER_SECOND = (100 * 100) / 10;
/** src/storage/outage.ts NEARLY_FULL_SHARE: relay.storage.nearly_full at 80 % of a database's 10 GB, when a shard is added. */
const STORAGE_FULL = 0.8;

// ---- Cloudflare's limits ----
const limit = {
  /** https://developers.cloudflare.com/d1/platform/limits/ "Maximum database size 10 GB (Workers Paid)"; cannot be increased. */
  d1Bytes: 10e9,
  /** Same page: "Maximum storage per account 1 TB (Workers Paid)", raised on request. */
  d1AccountBytes: 1e12,
  /** Same page: "Maximum bindings per Workers script: approximately 5,000" D1 databases. */
  d1Bindings: 5000,
  /**
   * Same page: "Queries per Worker invocation 1000 (Workers Paid)", which it calls a subrequest limit;
   * the Workers limits page now gives 10,000 subrequests. CAPACITY_D1_CALLS_PER_INVOCATION=10000 for that reading.
   */
  d1QueriesPerInvocation: num("CAPACITY_D1_CALLS_PER_INVOCATION", 1000),
  /** https://developers.cloudflare.com/queues/platform/limits/ "Per-queue message throughput 5,000 messages per second". */
  queueMessagesPerSecond: 5000,
  /** Same page: "Concurrent consumer invocations 250". */
  consumerConcurrency: 250,
  /** Same page: "Per-queue backlog size 25GB". */
  queueBacklogBytes: 25e9,
  /** https://developers.cloudflare.com/workers/platform/limits/ "Subrequests 10,000/request" (Workers Paid). */
  subrequests: 10_000,
  /** Same page: "Simultaneous outgoing connections/request 6". */
  connectionsWaiting: 6,
  /** Same page: CPU time, default 30 s per invocation (up to 5 min). */
  cpuMs: 30_000,
};

// ---- Cloudflare's list prices (Workers Paid, USD) ----
const price = {
  /** https://developers.cloudflare.com/workers/platform/pricing/ Workers Paid: $5 a month minimum. */
  plan: 5,
  /** Same page, Standard: requests "10 million included per month +$0.30 per additional million". */
  request: 0.3e-6,
  requestsIncluded: 10e6,
  /** Same page: CPU "30 million CPU milliseconds included per month +$0.02 per additional million". */
  cpuMs: 0.02e-6,
  cpuMsIncluded: 30e6,
  /** https://developers.cloudflare.com/queues/platform/pricing/ "1,000,000 operations/month included + $0.40/million", an operation per 64 KB written, read or deleted (1 KB = 1,000 bytes, about 100 bytes of metadata a message). */
  queueOp: 0.4e-6,
  queueOpsIncluded: 1e6,
  queueOpBytes: 64_000,
  queueMessageOverhead: 100,
  /** https://developers.cloudflare.com/d1/platform/pricing/ rows read "First 25 billion / month included + $0.001 / million rows". */
  rowRead: 0.001e-6,
  rowsReadIncluded: 25e9,
  /** Same page: rows written "First 50 million / month included + $1.00 / million rows". */
  rowWritten: 1.0e-6,
  rowsWrittenIncluded: 50e6,
  /** Same page: storage "First 5 GB included + $0.75 / GB-mo". */
  d1GbMonth: 0.75,
  d1GbIncluded: 5,
  /** https://developers.cloudflare.com/r2/pricing/ Standard storage "$0.015 / GB-month", 10 GB-month free. */
  r2GbMonth: 0.015,
  r2GbIncluded: 10,
  /** Same page: Class A "$4.50 / million requests", 1 million free; Class B "$0.36 / million", 10 million free; deletes free. */
  r2ClassA: 4.5e-6,
  r2ClassAIncluded: 1e6,
  r2ClassB: 0.36e-6,
  r2ClassBIncluded: 10e6,
};

const SECONDS_PER_MONTH = 30 * 86_400;
const GB = 1e9;

// ---- the measured figures, at any number of destinations ----
const points = [...measured.happyPath].sort((a, b) => a.destinations - b.destinations);
/** A measured quantity at `d` destinations: straight lines between measured points, the last segment's slope beyond. */
function at(d, get) {
  const found = points.findIndex((p) => p.destinations >= d);
  if (found !== -1 && points[found].destinations === d) return get(points[found]);
  const i = found === -1 ? points.length - 1 : Math.max(1, found);
  const [p0, p1] = [points[i - 1], points[i]];
  const [y0, y1] = [get(p0), get(p1)];
  return y0 + ((y1 - y0) * (d - p0.destinations)) / (p1.destinations - p0.destinations);
}

/**
 * SQL time of the look-ups every shard makes for every callback of a batch. They are the same
 * statements whatever the destinations, and each measurement is near the local timer's 1 ms
 * resolution, so the mean over all measurements stands for each.
 */
const lookupMs = points.reduce((t, p) => t + p.perCallback.everyShard.sqlMs, 0) / points.length;

/** Callbacks per consumer batch: the first message and whatever arrives in the next 0.5 s, up to 100 (at average traffic). */
const batchSize = (perSecond) => Math.min(BATCH, 1 + perSecond * BATCH_TIMEOUT_S);

const queueOpsPerMessage = Math.ceil((measured.ingest.queueMessageBytes + price.queueMessageOverhead) / price.queueOpBytes);

/** What one callback costs at `d` destinations, in batches of `b`, with `shards` event shards. */
function unit(d, b = BATCH, shards = 1) {
  const pc = (get) => at(d, (p) => get(p.perCallback));
  const pb = (get) => at(d, (p) => get(p.perBatch));
  const ex = (get) => at(d, (p) => get(p.expiry));
  const storeWritten = pc((c) => c.shard.rowsWritten) + pb((p) => p.control.rowsWritten) / b;
  const expiryWritten = ex((e) => e.d1RowsWritten);
  const everyShardRead = pc((c) => c.everyShard.rowsRead);
  const storeRead = pc((c) => c.shard.rowsRead) - everyShardRead + shards * everyShardRead + pb((p) => p.control.rowsRead) / b;
  const deliveriesMessages = pc((c) => c.queueMessages.deliveries ?? 0);
  return {
    storeWritten,
    expiryWritten,
    rowsWritten: storeWritten + expiryWritten,
    rowsRead: measured.ingest.d1RowsRead + storeRead + ex((e) => e.d1RowsRead),
    /** Shard bytes a callback occupies while its records are kept. */
    d1Bytes: at(d, (p) => p.d1BytesPerCallback.kept),
    r2Bytes: pc((c) => c.r2Bytes),
    r2ClassA: pb((p) => p.r2ClassA) / b,
    r2ClassB: pc((c) => c.r2ClassB),
    queueOps: queueOpsPerMessage * (measured.ingest.queueMessages + deliveriesMessages) * 3,
    requests: 1 + 1 / b,
    cpuMs: cpuMs(d),
    /** SQL time on the callback's own shard (store and expiry) and on every shard (the look-ups of each batch). */
    homeMs: pc((c) => c.shard.sqlMs - c.everyShard.sqlMs) + ex((e) => e.sqlMs),
    everyShardMs: lookupMs,
    controlCallsPerBatch: pb((p) => p.control.calls),
    /** D1 calls a consumer batch makes to each shard (look-ups, store, outcomes): measured with one shard. */
    shardCallsPerBatch: pb((p) => p.shardCalls),
  };
}

/** Everything a deployment carries at `volume` callbacks a month, `d` destinations each. */
function load(volume, d) {
  const avg = volume / SECONDS_PER_MONTH;
  const peak = avg * peakFactor;
  const b = batchSize(avg);
  const u0 = unit(d, b, 1);
  const d1Bytes = volume * (metadataDays / 30) * u0.d1Bytes;
  const byStorage = Math.ceil(d1Bytes / (limit.d1Bytes * STORAGE_FULL));
  // The writer of each shard: its share of the callbacks' own work, plus every callback's look-ups.
  const writerBudget = WRITER_FULL * 1000;
  const everyMsPerSecond = peak * u0.everyShardMs;
  const byWriter = everyMsPerSecond >= writerBudget ? Infinity : Math.ceil((peak * u0.homeMs) / (writerBudget - everyMsPerSecond));
  const shards = Math.max(1, byStorage, byWriter);
  const u = unit(d, b, shards);
  return {
    volume,
    avg,
    peak,
    batch: b,
    u,
    d1Bytes,
    r2Bytes: volume * (retentionDays / 30) * u.r2Bytes,
    byStorage,
    byWriter,
    shards,
    writerBusy: ((peak * u.homeMs) / shards + everyMsPerSecond) / 1000,
    controlBusy: ((peak / batchSize(peak)) * u.controlCallsPerBatch * CONTROL_MS_PER_CALL) / 1000,
    invocationsAtPeak: (peak * d * crmLatencyMs) / 1000 / limit.connectionsWaiting,
    sweepCalls: shards * (SWEEP_CALLS_PER_SHARD + Math.ceil(tenants / TENANTS_PER_EXPIRY_CALL)) + SWEEP_CALLS_CONTROL,
    /** A full consumer batch: a fetch per callback and destination, D1 calls (control, and each shard's), the R2 put, a queue send. */
    consumerSubrequests: BATCH * d + u.controlCallsPerBatch + u.shardCallsPerBatch * shards + 2,
    consumerD1Calls: u.controlCallsPerBatch + u.shardCallsPerBatch * shards,
    consumerCpuMs: BATCH * u.cpuMs,
  };
}

/** Cost of one more million callbacks: full batches, one shard, no included allowances, storage for its whole stay. */
function perMillion(d) {
  const u = unit(d);
  const m = 1e6;
  return {
    u,
    items: {
      "Workers requests (ingest + 1/100 consumer)": m * u.requests * price.request,
      "Workers CPU (assumed, not measured)": m * u.cpuMs * price.cpuMs,
      [`Queues (${fmt(u.queueOps, 0)} operations)`]: m * u.queueOps * price.queueOp,
      "D1 rows written": m * u.rowsWritten * price.rowWritten,
      "D1 rows read": m * u.rowsRead * price.rowRead,
      [`D1 storage (${metadataDays} days)`]: ((m * u.d1Bytes) / GB) * (metadataDays / 30) * price.d1GbMonth,
      [`R2 storage (${retentionDays} days)`]: ((m * u.r2Bytes) / GB) * (retentionDays / 30) * price.r2GbMonth,
      "R2 Class A (1 put per batch)": m * u.r2ClassA * price.r2ClassA,
    },
  };
}

/** The month's bill at `volume` callbacks, included allowances deducted; storage at steady state. */
function bill(volume, d) {
  const l = load(volume, d);
  const u = l.u;
  const over = (used, included) => Math.max(0, used - included);
  const sweepReads = SWEEPS_PER_MONTH * l.shards * (measured.sweepIdle.purgeRowsReadPerShard + tenants * measured.sweepIdle.expiryRowsReadPerTenantAndShard);
  return {
    l,
    items: {
      "Workers Paid plan": price.plan,
      "Workers requests": over(volume * u.requests + SWEEPS_PER_MONTH, price.requestsIncluded) * price.request,
      "Workers CPU": over(volume * u.cpuMs, price.cpuMsIncluded) * price.cpuMs,
      "Queues operations": over(volume * u.queueOps, price.queueOpsIncluded) * price.queueOp,
      "D1 rows written": over(volume * u.rowsWritten, price.rowsWrittenIncluded) * price.rowWritten,
      "D1 rows read": over(volume * u.rowsRead + sweepReads, price.rowsReadIncluded) * price.rowRead,
      "D1 storage": over(l.d1Bytes / GB, price.d1GbIncluded) * price.d1GbMonth,
      "R2 storage": over(l.r2Bytes / GB, price.r2GbIncluded) * price.r2GbMonth,
      "R2 Class A": over(volume * u.r2ClassA + SWEEPS_PER_MONTH * SWEEP_R2_CLASS_A, price.r2ClassAIncluded) * price.r2ClassA,
      "R2 Class B": over(volume * u.r2ClassB + SWEEPS_PER_MONTH * SWEEP_R2_CLASS_B, price.r2ClassBIncluded) * price.r2ClassB,
    },
  };
}

const sum = (o) => Object.values(o).reduce((s, x) => s + x, 0);
const human = (v) =>
  v === Infinity ? "no limit" : v >= 1e9 ? `${fmt(v / 1e9, 1)} B` : v >= 1e6 ? `${fmt(v / 1e6, v >= 1e8 ? 0 : 1)} M` : `${fmt(v / 1e3, 0)} k`;
const money = (v) => fmt(v, 2);

/** The largest monthly volume for which `ok` holds (bisection on a log scale). */
function ceiling(ok) {
  let lo = 1e3;
  let hi = 1e13;
  if (!ok(lo)) return 0;
  if (ok(hi)) return Infinity;
  for (let i = 0; i < 100; i++) {
    const mid = Math.sqrt(lo * hi);
    if (ok(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------
const m = measured.measured;
log(
  `Relay cost and capacity from bench/results/d1-rows.json (measured ${m.date} at ${m.commit}${m.uncommittedChanges ? " with uncommitted changes" : ""}, ` +
    `batches of ${m.batch}, ${m.bodyBytes}-byte bodies). Assumed: peak second ${peakFactor}× the month's average, ` +
    `records kept ${metadataDays} days and payloads ${retentionDays}, CRMs answer in ${crmLatencyMs} ms, ${tenants} tenants.`,
);

log("\nPer callback, measured (every first attempt answered 2xx; full batches; one event shard)");
const units = DS.map((d) => unit(d));
log(
  table([
    ["", ...DS.map((d) => `${d} dest.`)],
    ["D1 rows written: store + first attempts", ...units.map((u) => fmt(u.storeWritten, 2))],
    [`D1 rows written: expiry after ${metadataDays} days`, ...units.map((u) => fmt(u.expiryWritten, 2))],
    ["D1 rows written, in all", ...units.map((u) => fmt(u.rowsWritten, 2))],
    ["D1 rows read (ingest, store, expiry)", ...units.map((u) => fmt(u.rowsRead, 1))],
    ["D1 bytes while kept (event shard)", ...units.map((u) => fmt(u.d1Bytes, 0))],
    ["R2 bytes (gzip member in the batch's object)", ...units.map((u) => fmt(u.r2Bytes, 0))],
    ["R2 Class A (puts per batch / 100)", ...units.map((u) => fmt(u.r2ClassA, 3))],
    ["queue messages (callbacks; deliveries)", ...DS.map((d) => `${fmt(measured.ingest.queueMessages, 0)}; ${fmt(at(d, (p) => p.perCallback.queueMessages.deliveries ?? 0), 2)}`)],
    [`queue operations (${fmt(measured.ingest.queueMessageBytes, 0)}-byte message: write, read, delete)`, ...units.map((u) => fmt(u.queueOps, 0))],
    ["SQL ms on the shard's writer", ...units.map((u) => fmt(u.homeMs + u.everyShardMs, 3))],
  ]),
);
log(
  `After expiry the shard keeps ${measured.afterExpiry.d1BytesPerCallback} bytes per callback ` +
    `(${fmt(measured.afterExpiry.releasedShare * 100, 1)} % of what the callbacks took is released); storage is bounded by the ${metadataDays}-day window.`,
);

log(`\nPer million callbacks, USD (marginal: full batches, no included allowances, storage for the whole ${metadataDays}-day stay)`);
const pms = DS.map(perMillion);
const oneAt = DS.indexOf(1);
const withTarget = (cells, target) => [...cells.slice(0, oneAt + 1), target, ...cells.slice(oneAt + 1)];
log(
  table([
    withTarget(["item", ...DS.map((d) => `${d} dest.`)], "target"),
    ...Object.keys(pms[0].items).map((name, i) => withTarget([name, ...pms.map((p) => money(Object.values(p.items)[i]))], "")),
    withTarget(["total per million callbacks", ...pms.map((p) => money(sum(p.items)))], `≤ ${money(TARGET_PER_MILLION)}`),
  ]),
);

const failed = measured.failedFirstAttempt;
const happy1 = points.find((p) => p.destinations === 1);
const retry = failed.retryRound.perCallback;
const addedFirst = failed.perCallback.d1RowsWritten - happy1.perCallback.d1RowsWritten + failed.expiry.d1RowsWritten - happy1.expiry.d1RowsWritten;
const firstOps = queueOpsPerMessage * 3 * (failed.perCallback.queueMessages.deliveries ?? 0);
const retryOps = queueOpsPerMessage * 3 * (retry.queueMessages.deliveries ?? 0);
log("\nWhat a failing destination adds, per delivery (1 destination answering 500)");
log(
  table([
    ["", "D1 rows written", "queue operations", "R2 Class B", "USD per million"],
    ["a failed first attempt (and its expiry)", fmt(addedFirst, 2), fmt(firstOps, 0), fmt(failed.perCallback.r2ClassB, 2), money(addedFirst + firstOps * 0.4)],
    ["each retry round", fmt(retry.d1RowsWritten, 2), fmt(retryOps, 0), fmt(retry.r2ClassB, 2), money(retry.d1RowsWritten + retryOps * 0.4 + retry.r2ClassB * 0.36)],
  ]),
);

log(
  `\nEvent shards needed (${fmt(STORAGE_FULL * 10, 0)} GB of each 10 GB database, the relay's nearly-full alert; ` +
    `a shard's writer full at ${fmt(WRITER_FULL * 100, 0)} % of the peak second)`,
);
const shardRows = [["callbacks/month", "dest.", "D1 data", "shards for storage", "for writes", "shards", "writer busy each", "R2 data", "sweep D1 calls/run"]];
for (const v of volumes) {
  for (const d of DS) {
    const l = load(v, d);
    shardRows.push([human(v), d, `${fmt(l.d1Bytes / GB, 1)} GB`, l.byStorage, l.byWriter, l.shards, `${fmt(l.writerBusy * 100, 1)} %`, `${fmt(l.r2Bytes / GB, 0)} GB`, l.sweepCalls]);
  }
}
log(table(shardRows));

for (const d of DS) {
  const bills = volumes.map((v) => bill(v, d));
  log(`\nMonthly bill in USD at ${d} destination(s), included allowances deducted, storage at steady state`);
  log(
    table([
      ["item", ...volumes.map((v) => `${human(v)}/month`)],
      ["callbacks per consumer batch (average traffic)", ...bills.map((b) => fmt(b.l.batch, 1))],
      ["event shards", ...bills.map((b) => b.l.shards)],
      ...Object.keys(bills[0].items).map((name) => [name, ...bills.map((b) => money(b.items[name]))]),
      ["total", ...bills.map((b) => money(sum(b.items)))],
      ["per million callbacks", ...bills.map((b, i) => money(sum(b.items) / (volumes[i] / 1e6)))],
    ]),
  );
}

// The walls: for each limit, the monthly volume at which it binds. Shards are added as storage and
// writes need them; the limits below are what adding shards does not move (or moves only so far).
const walls = [
  {
    name: "Queue throughput, 5,000 msg/s per queue (callbacks queue)",
    ok: (v, d) => load(v, d).peak <= limit.queueMessagesPerSecond,
    moves: "a second callbacks queue, picked by tenant",
  },
  {
    name: `Consumer concurrency, 250 invocations × 6 connections, ${crmLatencyMs} ms CRMs`,
    ok: (v, d) => load(v, d).invocationsAtPeak <= limit.consumerConcurrency,
    moves: "faster CRMs; fewer destinations per callback",
  },
  {
    name: `Sweep: D1 calls per run ≤ ${limit.d1QueriesPerInvocation} (shards × pages of ${TENANTS_PER_EXPIRY_CALL} of ${tenants} tenants)`,
    ok: (v, d) => load(v, d).sweepCalls <= limit.d1QueriesPerInvocation,
    moves: "bigger tenant pages per expiry call; a sweep per shard",
  },
  {
    name: `Consumer: D1 calls per batch ≤ ${limit.d1QueriesPerInvocation} (${fmt(unit(1).shardCallsPerBatch, 0)} per shard)`,
    ok: (v, d) => load(v, d).consumerD1Calls <= limit.d1QueriesPerInvocation,
    moves: "fewer round trips per shard; smaller batches",
  },
  {
    name: `Control database writer (${CONTROL_MS_PER_CALL} ms a call, ${fmt(WRITER_FULL * 100, 0)} % busy)`,
    ok: (v, d) => load(v, d).controlBusy <= WRITER_FULL,
    moves: "nothing: one control database",
  },
  {
    name: "Event-shard look-ups: every shard reads every batch",
    ok: (v, d) => load(v, d).byWriter !== Infinity,
    moves: "a look-up that asks only the home shard",
  },
  {
    name: "D1 storage per account, 1 TB",
    ok: (v, d) => load(v, d).d1Bytes <= limit.d1AccountBytes,
    moves: "raised on request",
  },
  {
    name: "D1 databases bound to one Worker, about 5,000",
    ok: (v, d) => load(v, d).shards <= limit.d1Bindings,
    moves: "nothing short of a second Worker",
  },
  {
    name: "Subrequests per consumer batch, 10,000",
    ok: (v, d) => load(v, d).consumerSubrequests <= limit.subrequests,
    moves: "smaller batches",
  },
  {
    name: "CPU per consumer batch, 30 s (assumed CPU per callback)",
    ok: (v, d) => load(v, d).consumerCpuMs <= limit.cpuMs,
    moves: "limits.cpu_ms, up to 5 min",
  },
  {
    // https://developers.cloudflare.com/r2/platform/limits/ "Data storage per bucket: Unlimited"; the only
    // rate limit is on writes to one key, and every batch writes a key of its own.
    name: "R2: storage per bucket unlimited, one put per batch",
    ok: () => true,
    moves: "",
  },
];
log(`\nWhere it stops: the volume (callbacks/month) at which each limit binds, with shards added as needed`);
const ceilings = walls.map((w) => DS.map((d) => ceiling((v) => w.ok(v, d))));
log(
  table([
    ["limit", ...DS.map((d) => `${d} dest.`), "what moves it"],
    ...walls.map((w, i) => [w.name, ...ceilings[i].map(human), w.moves]),
  ]),
);
for (const [j, d] of DS.entries()) {
  const order = walls.map((w, i) => ({ w, at: ceilings[i][j] })).sort((a, b) => a.at - b.at);
  log(`first wall at ${d} destination(s): ${order[0].w.name} at ${human(order[0].at)} a month; then ${order[1].w.name} at ${human(order[1].at)}`);
}
const backlogHours = limit.queueBacklogBytes / (measured.ingest.queueMessageBytes + price.queueMessageOverhead) / (load(1e8, 1).avg * 3600);
log(
  `Queue backlog (25 GB per queue): ${human(limit.queueBacklogBytes / (measured.ingest.queueMessageBytes + price.queueMessageOverhead))} callbacks, ` +
    `${fmt(backlogHours, 0)} hours of 100 M/month average traffic with no consumer running.`,
);

const t = load(bigTenant, 1);
log(`\nOne tenant at ${human(bigTenant)} callbacks a month, 1 destination`);
log(
  table([
    ["", "value", "limit"],
    ["peak callbacks/s", fmt(t.peak, 0), `${fmt(INGEST_LIMIT_PER_SECOND, 0)}/s per Cloudflare location (INGEST_LIMITER)`],
    ["D1 data at steady state", `${fmt(t.d1Bytes / GB, 1)} GB`, `${t.shards} shard(s) at ${fmt(STORAGE_FULL * 10, 0)} GB`],
    ["per shard (calls spread by callid)", `${fmt(t.d1Bytes / GB / t.shards, 1)} GB, ${fmt(t.peak / t.shards, 0)}/s`, `writer ${fmt(t.writerBusy * 100, 1)} % busy`],
    ["events to expire per shard and sweep, at the peak", fmt((t.peak * 60) / t.shards, 0), `${EXPIRY_PER_TENANT_SHARD_SWEEP} per tenant (10 rounds of 1,000)`],
    ["sweep D1 calls per run (this tenant alone)", fmt(t.shards * (SWEEP_CALLS_PER_SHARD + 1) + SWEEP_CALLS_CONTROL, 0), `${limit.d1QueriesPerInvocation}`],
  ]),
);

// ---------------------------------------------------------------------------------------------
// --docs: the blocks of this output (separated by blank lines, named by their first line) replace
// the fenced blocks of the docs that start with the same line. The prose around them is the
// reader's to check: this only keeps the pasted tables in step with bench/results/d1-rows.json.
if (process.argv.includes("--docs")) {
  const blocks = new Map(
    printed
      .join("\n")
      .split(/\n\s*\n/)
      .map((b) => b.replace(/^\n+|\n+$/g, ""))
      .filter(Boolean)
      .map((b) => [b.split("\n")[0], b]),
  );
  for (const doc of ["COST.md", "SCALING.md"]) {
    const path = join(import.meta.dirname, "..", "docs", doc);
    const text = readFileSync(path, "utf8");
    let replaced = 0;
    const missing = [];
    const next = text.replace(/^```\n([^\n]*)\n[\s\S]*?^```$/gm, (whole, title) => {
      const block = blocks.get(title);
      if (block === undefined) {
        if (!title.includes("npm run bench:capacity")) missing.push(title);
        return whole;
      }
      replaced++;
      return `\`\`\`\n${block}\n\`\`\``;
    });
    writeFileSync(path, next);
    console.error(`docs/${doc}: ${replaced} block(s) replaced${missing.length ? `; no block printed for: ${missing.join(" | ")}` : ""}`);
  }
}
