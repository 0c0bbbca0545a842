#!/usr/bin/env node
// Where one deployment of the relay stops, and what a month of callbacks
// costs, at 1 M, 10 M and 100 M callbacks a month. The per-callback numbers
// are the ones bench/d1-rows.mjs measures on the relay's own code and schema
// (docs/COST.md explains each); the limits and prices are Cloudflare's
// (docs/SCALING.md and docs/COST.md say which). Pure arithmetic: it starts nothing.
//
//   node bench/capacity.mjs
//   CAPACITY_DESTINATIONS=3 CAPACITY_PEAK_FACTOR=5 CAPACITY_MONTHS=6 node bench/capacity.mjs
import { fmt, table } from "./lib/stats.mjs";

const num = (name, fallback) => (process.env[name] ? Number(process.env[name]) : fallback);

const destinations = num("CAPACITY_DESTINATIONS", 1);
/** Busiest second over the average second of the month: contact centres work office hours. */
const peakFactor = num("CAPACITY_PEAK_FACTOR", 10);
const retentionDays = num("RETENTION_DAYS", 30);
/** Age of the deployment: today event and delivery rows are never deleted, only payloads and attempts. */
const months = num("CAPACITY_MONTHS", 12);
/** Time until a CRM's response headers arrive. */
const crmLatencyMs = num("CAPACITY_CRM_LATENCY_MS", 300);
const volumes = (process.env.CAPACITY_VOLUMES ?? "1e6,1e7,1e8").split(",").map(Number);

// ---- measured by bench/d1-rows.mjs (workerd's SQLite counters, which D1 bills), batches of 100 ----
const PAYLOAD_BYTES = 9_640;
/** Straight lines between measured points; past the last one, the last segment's slope. */
const through = (points) => (d) => {
  const found = points.findIndex(([x]) => x >= d);
  const i = found === -1 ? points.length - 1 : Math.max(1, found);
  const [[x0, y0], [x1, y1]] = [points[i - 1], points[i]];
  return y0 + ((y1 - y0) * (d - x0)) / (x1 - x0);
};
const per = {
  /**
   * Consumer, every first attempt 2xx: event 5 (row, its TEXT key's index, events_tenant_received,
   * events_purgeable, events_callid); per destination 7: delivery 4 (row, key, deliveries_due,
   * deliveries_destination; created already claimed), attempt 2 (row, attempts_delivery), finish 1.
   * Measured 12.00, 26.00, 75.00 at 1, 3, 10 destinations.
   */
  rowsWritten: (d) => 5 + 7 * d,
  /** Retention today: payload set to NULL (1) and each attempt deleted (1). Measured 2.00 at 1 destination. */
  purgeRowsWritten: (d) => 1 + d,
  /** Row expiry instead (R2 layout): the event, its deliveries and their attempts deleted, 1 each. */
  expiryRowsWritten: (d) => 1 + 2 * d,
  /** Consumer key seeks (measured 9.06, 27.10, 90.24) plus the purge's (12.0 at 1 destination). */
  rowsRead: (d) => 0.05 + 9.02 * d + 5 + 7 * d,
  /** Database bytes per callback while its payload is kept, measured at 0, 1, 3 and 10 destinations. */
  bytesKept: through([
    [0, 10_322],
    [1, 10_895],
    [3, 11_837],
    [10, 15_155],
  ]),
  /**
   * Bytes left for good after the purge: 2,597 measured at 1 destination; +320 per further destination
   * from the same schema in plain SQLite (node:sqlite), which matches D1's kept and purged sizes within 2 %.
   */
  bytesRetained: (d) => 2_597 + 320 * (d - 1),
  /** The payload gzip-compressed before storing (1,698 of 9,640 bytes): 8,190 fewer bytes kept (plain SQLite). */
  gzipSaves: 8_190,
  /** Rows alone, payload never in D1 (plain SQLite, same schema): 855, 1,849, 5,393 at 1, 3, 10 destinations. */
  bytesMetadata: (d) => 855 + 505 * (d - 1),
  /** Statements on D1's writer per callback: event, and per destination delivery, attempt, finish. */
  statements: (d) => 1 + 3 * d,
  queueOps: 3,
};
const BATCH = 100;
/** wrangler.toml: the callbacks consumer waits at most this long to fill a batch. */
const BATCH_TIMEOUT_S = 0.5;
/** Upper bound from an earlier `npm run bench` smoke run (local workerd CPU above the bare Worker's). */
const cpuMs = (d) => 1.5 + 0.5 * d;
/** CompressionStream("gzip") over one 9,640-byte body (Node's zlib, which workerd also uses). */
const GZIP_CPU_MS = 0.2;
/** Production D1: one simple indexed statement inside a batch() (assumed). */
const MS_PER_STATEMENT = 0.1;
/**
 * Rows a whole-table scan reads per second (plain SQLite on a 2-core machine; D1 unmeasured):
 * event rows that hold or held a payload sit about one to a page, metadata-only rows pack densely.
 */
const SCAN_ROWS_PER_SECOND = { payloadRows: 1.1e6, smallRows: 5e6 };

// ---- Cloudflare limits and list prices (docs/SCALING.md, docs/COST.md) ----
const limit = {
  d1Bytes: 10e9,
  d1QuerySeconds: 30,
  queueMessagesPerSecond: 5000,
  consumerConcurrency: 250,
  subrequests: 10_000,
  subrequestsBefore2026: 1000,
  connectionsWaiting: 6,
  cpuMs: 30_000,
};
const price = {
  request: 0.3e-6,
  requestsIncluded: 10e6,
  cpuMs: 0.02e-6,
  cpuMsIncluded: 30e6,
  queueOp: 0.4e-6,
  queueOpsIncluded: 1e6,
  rowRead: 0.001e-6,
  rowsReadIncluded: 25e9,
  rowWritten: 1.0e-6,
  rowsWrittenIncluded: 50e6,
  gbMonth: 0.75,
  gbIncluded: 5,
  r2GbMonth: 0.015,
  r2GbIncluded: 10,
  r2ClassA: 4.5e-6,
  r2ClassAIncluded: 1e6,
};

const SECONDS_PER_MONTH = 30 * 86_400;
const SWEEPS_PER_MONTH = 30 * 1440;
const GB = 1e9;

const layouts = {
  today: "as the code is today",
  gzip: "payloads gzip-compressed in D1",
  r2: `payloads in R2, rows deleted after ${retentionDays} days`,
};

/** A batch holds the first message and whatever arrives in the next 0.5 s, up to 100 (average traffic). */
const batchSize = (perSecond) => Math.min(BATCH, 1 + perSecond * BATCH_TIMEOUT_S);

/** Per callback, whatever the volume. */
function unit(d, layout) {
  const window = retentionDays / 30;
  const r2 = layout === "r2";
  return {
    rowsWritten: per.rowsWritten(d) + (r2 ? per.expiryRowsWritten(d) : per.purgeRowsWritten(d)),
    rowsRead: per.rowsRead(d),
    /** GB-months of D1 while the payload is kept. */
    keptBytes: r2 ? per.bytesMetadata(d) : per.bytesKept(d) - (layout === "gzip" ? per.gzipSaves : 0),
    /** Bytes that stay once the window has passed: none when rows expire. */
    retainedBytes: r2 ? 0 : per.bytesRetained(d),
    r2Bytes: r2 ? PAYLOAD_BYTES : 0,
    window,
    cpuMs: cpuMs(d) + (layout === "gzip" ? GZIP_CPU_MS : 0),
    scanRate: r2 ? SCAN_ROWS_PER_SECOND.smallRows : SCAN_ROWS_PER_SECOND.payloadRows,
  };
}

/** Everything one deployment carries at `volume` callbacks a month, `d` destinations each. */
function load(volume, d, layout) {
  const u = unit(d, layout);
  const avg = volume / SECONDS_PER_MONTH;
  const peak = avg * peakFactor;
  // Months of rows kept past the retention window: all of them today, none once rows expire.
  const beyond = layout === "r2" ? 0 : Math.max(0, months - u.window);
  const eventRows = volume * (u.window + beyond);
  return {
    avg,
    peak,
    bytes: volume * u.window * u.keptBytes + volume * beyond * u.retainedBytes,
    batchesPerMonth: volume / batchSize(avg),
    // GET /v1/admin/events and /deliveries plan as SCAN (their `?n IS NULL OR …` filters use no index).
    adminScanSeconds: Math.max(eventRows / u.scanRate, (eventRows * d) / SCAN_ROWS_PER_SECOND.smallRows),
    writerBusy: (peak * per.statements(d) * MS_PER_STATEMENT) / 1000,
    invocationsAtPeak: (peak * d) / (limit.connectionsWaiting / (crmLatencyMs / 1000)),
  };
}

const checks = [
  ["D1 size (10 GB per database)", (l) => l.bytes <= limit.d1Bytes, (l) => `${fmt(l.bytes / GB, 1)} GB`],
  ["D1 single writer (busy at peak)", (l) => l.writerBusy <= 1, (l) => `${fmt(l.writerBusy * 100, 1)} %`],
  [
    "D1 query time (30 s): admin list scan",
    (l) => l.adminScanSeconds <= limit.d1QuerySeconds,
    (l) => `${fmt(l.adminScanSeconds, 1)} s`,
  ],
  ["Queue throughput (5,000 msg/s)", (l) => l.peak <= limit.queueMessagesPerSecond, (l) => `${fmt(l.peak, 0)} msg/s`],
  [
    `consumers (250 × 6 waiting, ${crmLatencyMs} ms CRM)`,
    (l) => l.invocationsAtPeak <= limit.consumerConcurrency,
    (l) => `${fmt(l.invocationsAtPeak, 1)} busy`,
  ],
];

/** The largest monthly volume for which `ok` holds (bisection on a log scale). */
function ceiling(ok, d, layout) {
  let lo = 1;
  let hi = 1e12;
  if (!ok(load(lo, d, layout))) return 0;
  if (ok(load(hi, d, layout))) return Infinity;
  for (let i = 0; i < 100; i++) {
    const mid = Math.sqrt(lo * hi);
    if (ok(load(mid, d, layout))) lo = mid;
    else hi = mid;
  }
  return lo;
}

const human = (v) =>
  v === Infinity ? "no limit" : v >= 1e9 ? `${fmt(v / 1e9, 1)} B` : v >= 1e6 ? `${fmt(v / 1e6, 2)} M` : `${fmt(v / 1e3, 0)} k`;
const label = (v) => `${human(v)}/month`;

function limitsTable(d, layout) {
  console.log(`\nOne deployment (one D1, one callbacks queue), ${layouts[layout]}`);
  const rows = [["limit", "ceiling (callbacks/month)", ...volumes.map(label)]];
  for (const [name, ok, show] of checks) {
    rows.push([
      name,
      human(ceiling(ok, d, layout)),
      ...volumes.map((v) => {
        const l = load(v, d, layout);
        return `${show(l)} ${ok(l) ? "ok" : "OVER"}`;
      }),
    ]);
  }
  console.log(table(rows));
}

/** Monthly bill, included allowances deducted. */
function bill(volume, d, layout) {
  const u = unit(d, layout);
  const l = load(volume, d, layout);
  const over = (used, included) => Math.max(0, used - included);
  const r2 = layout === "r2";
  return {
    "Workers requests": over(volume + l.batchesPerMonth + SWEEPS_PER_MONTH, price.requestsIncluded) * price.request,
    "Workers CPU": over(volume * u.cpuMs, price.cpuMsIncluded) * price.cpuMs,
    "Queues operations": over(volume * per.queueOps, price.queueOpsIncluded) * price.queueOp,
    "D1 rows written": over(volume * u.rowsWritten, price.rowsWrittenIncluded) * price.rowWritten,
    "D1 rows read": over(volume * u.rowsRead, price.rowsReadIncluded) * price.rowRead,
    "D1 storage": over(l.bytes / GB, price.gbIncluded) * price.gbMonth,
    "R2 (one object per batch)": r2
      ? over((volume * u.window * u.r2Bytes) / GB, price.r2GbIncluded) * price.r2GbMonth +
        over(l.batchesPerMonth, price.r2ClassAIncluded) * price.r2ClassA
      : 0,
  };
}

/** Cost of one more million callbacks in full batches, no allowances: what each callback itself costs. */
function marginal(d, layout) {
  const u = unit(d, layout);
  const m = 1e6;
  const work = {
    "Workers requests": m * (1 + 1 / BATCH) * price.request,
    "Workers CPU": m * u.cpuMs * price.cpuMs,
    "Queues (3 operations)": m * per.queueOps * price.queueOp,
    "D1 rows written": m * u.rowsWritten * price.rowWritten,
    "D1 rows read": m * u.rowsRead * price.rowRead,
    "R2 (storage + 1 PUT per 100)": ((m * u.window * u.r2Bytes) / GB) * price.r2GbMonth + (u.r2Bytes ? (m / BATCH) * price.r2ClassA : 0),
  };
  const storage = ((m * u.window * u.keptBytes) / GB) * price.gbMonth;
  const then = ((m * u.retainedBytes) / GB) * price.gbMonth;
  return { u, work, storage, then };
}

const sum = (o) => Object.values(o).reduce((s, x) => s + x, 0);

console.log(
  `Relay capacity and cost: ${destinations} destination(s) per callback, peak ${peakFactor}× the monthly average, ` +
    `payloads kept ${retentionDays} days, deployment ${months} months old, CRMs answer in ${crmLatencyMs} ms`,
);
console.log(
  `Per full batch of ${BATCH}: ${BATCH * destinations + 3} subrequests ` +
    `(limit ${limit.subrequests}; ${limit.subrequestsBefore2026} before 2026), ` +
    `${BATCH * per.statements(destinations) + 3 + destinations} D1 statements, ` +
    `≤ ${fmt(BATCH * cpuMs(destinations), 0)} CPU ms (limit ${limit.cpuMs})`,
);

const ds = [...new Set([1, 3, 10, destinations])].sort((a, b) => a - b);
for (const layout of Object.keys(layouts)) {
  console.log(`\nPer million callbacks, ${layouts[layout]} (marginal: full batches, no included allowances)`);
  const ms = ds.map((d) => marginal(d, layout));
  console.log(
    table([
      ["item", ...ds.map((d) => `${d} dest.`)],
      ["D1 rows written per callback", ...ms.map((m) => fmt(m.u.rowsWritten, 0))],
      ["D1 rows read per callback", ...ms.map((m) => fmt(m.u.rowsRead, 0))],
      ["D1 bytes per callback, payload kept", ...ms.map((m) => fmt(m.u.keptBytes, 0))],
      ...Object.keys(ms[0].work).map((n) => [n, ...ms.map((m) => fmt(m.work[n], 2))]),
      ["work", ...ms.map((m) => fmt(sum(m.work), 2))],
      [`D1 storage, ${retentionDays} days`, ...ms.map((m) => fmt(m.storage, 2))],
      ["total", ...ms.map((m) => fmt(sum(m.work) + m.storage, 2))],
      ["then, every further month (kept rows)", ...ms.map((m) => fmt(m.then, 2))],
    ]),
  );
}

for (const layout of Object.keys(layouts)) limitsTable(destinations, layout);

console.log(`\nWhat 100 M callbacks a month needs (${destinations} destination(s))`);
console.log(
  table([
    ["layout", "D1 data", "10 GB databases (70 % full)", "writer busy each", "callbacks queues", "consumers busy"],
    ...Object.entries(layouts).map(([layout, name]) => {
      const l = load(1e8, destinations, layout);
      const dbs = Math.ceil(l.bytes / GB / 7);
      return [
        name,
        `${fmt(l.bytes / GB, 0)} GB`,
        dbs,
        `${fmt((l.writerBusy / dbs) * 100, 1)} %`,
        Math.ceil(l.peak / limit.queueMessagesPerSecond),
        fmt(l.invocationsAtPeak, 0),
      ];
    }),
  ]),
);

for (const [layout, name] of Object.entries(layouts)) {
  console.log(`\nMonthly bill in USD, ${name} (included allowances deducted; the $5 plan fee not shown)`);
  const bills = volumes.map((v) => bill(v, destinations, layout));
  console.log(
    table([
      ["item", ...volumes.map(label)],
      ...Object.keys(bills[0]).map((n) => [n, ...bills.map((b) => fmt(b[n], 2))]),
      ["total", ...bills.map((b) => fmt(sum(b), 2))],
      ["per million callbacks", ...bills.map((b, i) => fmt(sum(b) / (volumes[i] / 1e6), 2))],
    ]),
  );
}
