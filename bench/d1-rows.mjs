#!/usr/bin/env node
// What one callback costs in D1, R2 and the queues, measured on the relay's own
// code and schema: the ingest route, the callbacks consumer (store + first
// attempts), a retry, and the sweep's expiry run in local D1 (bench/d1-rows/),
// with every statement's rows read and written (workerd's SQLite counters, the
// ones D1 bills), every R2 call and every queue message recorded.
//
// It prints a table per measurement and writes the per-callback figures to
// bench/results/d1-rows.json, which `npm run bench:capacity` reads and
// docs/COST.md and docs/SCALING.md are built from.
//
//   npm run bench:d1-rows        (BENCH_BATCH callbacks per batch, default 100;
//                                 BENCH_ROUNDS batches per measurement, default 3)
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { nextCallback } from "./lib/load.mjs";
import { applyMigrations, killAllNow, root, startWorker, stopWorker } from "./lib/processes.mjs";
import { startSink } from "./lib/sink.mjs";
import { fmt, table } from "./lib/stats.mjs";

const batch = Number(process.env.BENCH_BATCH || 100);
const rounds = Number(process.env.BENCH_ROUNDS || 3);
const DESTINATIONS = [0, 1, 3, 10];
const configPath = "bench/d1-rows/wrangler.toml";
const resultsPath = join(root, "bench", "results", "d1-rows.json");
/** The event shard of bench/d1-rows/wrangler.toml; the control database is recorded as "control". */
const SHARD = "EVENTS_0";
/**
 * The statements every event shard runs for every callback of a batch, whichever shard the
 * callback goes to: storeCallbacks asks each shard which events and calls it already has
 * (storedEventIds, callsStored in src/db/events.ts). With S shards they are paid S times.
 */
const EVERY_SHARD = /^SELECT id FROM events WHERE id IN|^SELECT DISTINCT tenant_id, callid FROM events/;

const adminToken = `bench-${randomBytes(12).toString("hex")}`;
const stateDir = mkdtempSync(join(tmpdir(), "airudder-d1rows-"));
process.on("exit", () => {
  killAllNow();
  rmSync(stateDir, { recursive: true, force: true });
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => process.exit(130));

async function call(worker, method, path, body, token = adminToken) {
  const res = await fetch(worker.base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

/** A tenant with `urls` as its destinations; answers its ingest token. */
async function tenantWith(worker, id, urls) {
  const tenant = await call(worker, "POST", "/v1/admin/tenants", { id });
  for (const url of urls) await call(worker, "POST", `/v1/admin/tenants/${id}/destinations`, { url });
  return tenant.ingest_token;
}

const add = (a = {}, b = {}) => {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
};

/** Several recordings of the same measurement as one: statements together, counters summed, sizes from first to last. */
function merge(recs) {
  const names = Object.keys(recs[0].sizes);
  return {
    statements: recs.flatMap((r) => r.statements),
    d1Calls: recs.reduce((t, r) => add(t, r.d1Calls), {}),
    d1WallMs: recs.reduce((t, r) => add(t, r.d1WallMs), {}),
    queueMessages: recs.reduce((t, r) => add(t, r.queueMessages), {}),
    queueBytes: recs.reduce((t, r) => add(t, r.queueBytes), {}),
    r2: recs.reduce((t, r) => add(t, r.r2), {}),
    r2Objects: recs.reduce((t, r) => add(t, r.r2Objects), {}),
    sizes: Object.fromEntries(names.map((n) => [n, { before: recs[0].sizes[n].before, after: recs.at(-1).sizes[n].after }])),
  };
}

/** D1's counts summed over the statements that `keep` selects. */
function totals(statements, keep = () => true) {
  const picked = statements.filter(keep);
  return {
    statements: picked.length,
    read: picked.reduce((n, s) => n + s.rows_read, 0),
    written: picked.reduce((n, s) => n + s.rows_written, 0),
    ms: picked.reduce((n, s) => n + s.duration, 0),
  };
}

const grew = (rec, db) => {
  const s = rec.sizes[db];
  return s && s.before !== null && s.after !== null ? s.after - s.before : null;
};

/** The statements of a recording grouped by database and text, with D1's counts summed, and a per-callback line. */
function print(title, rec, per) {
  const groups = new Map();
  for (const s of rec.statements) {
    const key = `${s.db}\n${s.sql}`;
    const g = groups.get(key) ?? { db: s.db === "control" ? "control" : "shard", sql: s.sql, n: 0, read: 0, written: 0, ms: 0 };
    g.n++;
    g.read += s.rows_read;
    g.written += s.rows_written;
    g.ms += s.duration;
    groups.set(key, g);
  }
  const total = totals(rec.statements);
  console.log(`\n${title}`);
  console.log(
    table([
      ["database", "statement", "times", "rows read", "rows written", "SQL ms"],
      ...[...groups.values()].map((g) => [g.db, g.sql, g.n, g.read, g.written, fmt(g.ms, 2)]),
      ["", "total", total.statements, total.read, total.written, fmt(total.ms, 2)],
      ["", `per callback (÷ ${per})`, fmt(total.statements / per, 2), fmt(total.read / per, 2), fmt(total.written / per, 2), fmt(total.ms / per, 3)],
    ]),
  );
  const queue = Object.entries(rec.queueMessages).map(([q, n]) => `${n} to ${q}`).join(", ") || "none";
  const shardGrew = grew(rec, SHARD);
  console.log(
    `queue messages sent: ${queue}; R2: ${rec.r2.classA} Class A, ${rec.r2.classB} Class B, ` +
      `${rec.r2Objects.count} payload object(s) of ${rec.r2Objects.bytes} bytes (${fmt(rec.r2Objects.bytes / per)} per callback); ` +
      `event shard grew ${shardGrew === null ? "n/a" : `${shardGrew} bytes (${fmt(shardGrew / per)} per callback)`}`,
  );
}

const r = (v, digits) => (v === null || !Number.isFinite(v) ? null : Number(v.toFixed(digits)));

/** The per-callback figures of a consumer recording (`n` callbacks in `batches` batches). */
function perCallback(rec, n, batches) {
  const all = totals(rec.statements);
  const shard = totals(rec.statements, (s) => s.db !== "control");
  const control = totals(rec.statements, (s) => s.db === "control");
  const every = totals(rec.statements, (s) => s.db !== "control" && EVERY_SHARD.test(s.sql));
  return {
    perCallback: {
      d1RowsWritten: r(all.written / n, 4),
      d1RowsRead: r(all.read / n, 4),
      d1Statements: r(all.statements / n, 4),
      sqlMs: r(all.ms / n, 4),
      shard: { rowsWritten: r(shard.written / n, 4), rowsRead: r(shard.read / n, 4), statements: r(shard.statements / n, 4), sqlMs: r(shard.ms / n, 4) },
      everyShard: { rowsRead: r(every.read / n, 4), statements: r(every.statements / n, 4), sqlMs: r(every.ms / n, 4) },
      queueMessages: Object.fromEntries(Object.entries(rec.queueMessages).map(([q, m]) => [q, r(m / n, 4)])),
      r2Bytes: r(rec.r2Objects.bytes / n, 1),
      r2ClassA: r(rec.r2.classA / n, 4),
      r2ClassB: r(rec.r2.classB / n, 4),
      d1WallMs: r(Object.values(rec.d1WallMs).reduce((a, b) => a + b, 0) / n, 3),
    },
    perBatch: {
      control: { rowsWritten: r(control.written / batches, 2), rowsRead: r(control.read / batches, 2), statements: r(control.statements / batches, 2), sqlMs: r(control.ms / batches, 3), calls: r((rec.d1Calls.control ?? 0) / batches, 2) },
      shardCalls: r((rec.d1Calls[SHARD] ?? 0) / batches, 2),
      r2Objects: r(rec.r2Objects.count / batches, 2),
      r2ClassA: r(rec.r2.classA / batches, 2),
    },
  };
}

function gitState() {
  const git = (...args) => execFileSync("git", args, { cwd: root, encoding: "utf8" }).trim();
  try {
    return { commit: git("rev-parse", "--short", "HEAD"), uncommittedChanges: git("status", "--porcelain", "--", "src", "migrations", "bench") !== "" };
  } catch {
    return { commit: null, uncommittedChanges: null };
  }
}

async function main() {
  const sink = await startSink();
  await applyMigrations(configPath, stateDir);
  const worker = await startWorker({
    name: "d1-rows",
    configPath,
    persistDir: stateDir,
    healthPath: "/healthz",
    vars: { ADMIN_TOKEN: adminToken, ENCRYPTION_KEY: randomBytes(32).toString("base64"), ALLOW_INSECURE_DESTINATIONS: "true" },
    since: Date.now(),
  });
  const bodies = () => Array.from({ length: batch }, nextCallback);
  const bodyBytes = Buffer.byteLength(bodies()[0]);
  console.log(
    `Consumer batches of ${batch} new inbound-transfer callbacks (${bodyBytes} bytes each, each a new call), ${rounds} per measurement, ` +
      `first attempts answered at once; control database and one event shard (${SHARD}) recorded apart`,
  );

  // A warm-up batch, so that later batches see a non-empty database as production does.
  await tenantWith(worker, "warm", [sink.url]);
  await call(worker, "POST", "/__measure/store", { tenant: "warm", bodies: bodies() });

  // Ingest: AiRudder's POSTs through the relay's route (token check, validation, hand-off to the queue).
  const token = await tenantWith(worker, "ingest", [sink.url]);
  const ingest = await call(worker, "POST", "/__measure/ingest", { tenant: "ingest", token, bodies: bodies() });
  print(`ingest: ${batch} callbacks POSTed to the relay's route`, ingest, batch);
  const ingestTotals = totals(ingest.statements);

  // The happy path: store + first attempts, every one answered 200.
  const happy = [];
  for (const destinations of DESTINATIONS) {
    const tenant = `d${destinations}`;
    await tenantWith(worker, tenant, Array.from({ length: destinations }, () => sink.url));
    const recs = [];
    for (let i = 0; i < rounds; i++) recs.push(await call(worker, "POST", "/__measure/store", { tenant, bodies: bodies() }));
    const rec = merge(recs);
    const n = rounds * batch;
    print(`${destinations} destination(s), every first attempt 200 (${rounds} batches)`, rec, n);
    happy.push({ destinations, tenant, n, rec });
  }

  // A destination that answers 500: the failed first attempt, then one retry round failing again.
  await tenantWith(worker, "failing", [sink.failingUrl]);
  const failing = merge([await call(worker, "POST", "/__measure/store", { tenant: "failing", bodies: bodies() })]);
  print("1 destination answering 500: store + failed first attempt", failing, batch);
  const retry = merge([await call(worker, "POST", "/__measure/retry", { tenant: "failing" })]);
  print("…its retry batch (deliveries queue), failing again", retry, batch);

  // Expiry (METADATA_RETENTION_DAYS): each tenant's records made 31 days old, then the sweep's purge and
  // expiry on the shard, twice. The second run has nothing left to do: what an idle sweep reads.
  const expired = new Map();
  for (const tenant of [...happy.map((h) => h.tenant), "failing"]) expired.set(tenant, await call(worker, "POST", "/__measure/expire", { tenant, ageDays: 31 }));
  const one = expired.get("d1");
  console.log(`\nexpiry of the ${rounds * batch} callbacks of 1 destination, made 31 days old; the sweep run twice (the second has nothing left to do)`);
  console.log(
    table([
      ["run", "statement", "rows read", "rows written", "SQL ms"],
      ...one.statements.map((s) => [s.phase, s.sql, s.rows_read, s.rows_written, fmt(s.duration, 2)]),
    ]),
  );
  const expiryOf = (rec, n) => {
    const run = totals(rec.statements, (s) => s.phase === "expire");
    const shrank = -grew(rec, SHARD);
    return { written: run.written / n, read: run.read / n, ms: run.ms / n, shrank: shrank / n };
  };
  const idle = {
    purge: totals(one.statements, (s) => s.phase === "idle" && /^(DELETE FROM attempts WHERE id IN|UPDATE events SET payload = NULL)/.test(s.sql)),
    expiry: totals(one.statements, (s) => s.phase === "idle" && !/^(DELETE FROM attempts WHERE id IN|UPDATE events SET payload = NULL)/.test(s.sql)),
  };

  // Storage at steady state: a tenant that fills the space the expired rows left behind.
  await tenantWith(worker, "refill", [sink.url]);
  const refillRecs = [];
  for (let i = 0; i < rounds; i++) refillRecs.push(await call(worker, "POST", "/__measure/store", { tenant: "refill", bodies: bodies() }));
  const refill = merge(refillRecs);
  const refillGrew = grew(refill, SHARD) / (rounds * batch);

  const rows = happy.map(({ destinations, tenant, n, rec }) => ({ destinations, n, rec, e: expiryOf(expired.get(tenant), n), kept: grew(rec, SHARD) / n }));
  // What stays after expiry, over the four tenants together: one tenant's expiry also empties pages it
  // shared with the others (the events table is keyed by event id, so tenants interleave), so a
  // per-tenant difference says little.
  const stored = rows.reduce((t, row) => t + row.kept * row.n, 0);
  const released = rows.reduce((t, row) => t + row.e.shrank * row.n, 0);
  const expiredCallbacks = rows.reduce((t, row) => t + row.n, 0);
  const afterExpiry = (stored - released) / expiredCallbacks;
  console.log(`\nper callback, every first attempt 200 (batches of ${batch}); expiry after METADATA_RETENTION_DAYS`);
  console.log(
    table([
      ["destinations", "rows written", "rows read", "SQL ms", "expiry written", "expiry read", "shard bytes kept", "R2 bytes", "R2 Class A", "queue msgs"],
      ...rows.map(({ destinations, n, rec, e, kept }) => {
        const t = totals(rec.statements);
        const msgs = Object.values(rec.queueMessages).reduce((a, b) => a + b, 0);
        return [destinations, fmt(t.written / n, 2), fmt(t.read / n, 2), fmt(t.ms / n, 3), fmt(e.written, 2), fmt(e.read, 2), fmt(kept), fmt(rec.r2Objects.bytes / n), fmt(rec.r2.classA / n, 3), fmt(msgs / n, 2)];
      }),
    ]),
  );
  console.log(
    `after expiry: the shard kept ${fmt(afterExpiry)} bytes per expired callback ` +
      `(${fmt((100 * released) / stored, 1)} % of what the ${expiredCallbacks} callbacks had grown it by was released)`,
  );
  const fe = expiryOf(expired.get("failing"), batch);
  console.log(
    `failed first attempt: expiry writes ${fmt(fe.written, 2)} and reads ${fmt(fe.read, 2)} rows per callback; ` +
      `an idle sweep reads ${idle.purge.read} rows per shard (purge) and ${idle.expiry.read} per tenant and shard (expiry); ` +
      `a tenant storing after the expiry grew the shard by ${fmt(refillGrew)} bytes per callback`,
  );

  const results = {
    about:
      "Written by `npm run bench:d1-rows` (bench/d1-rows.mjs) and read by `npm run bench:capacity` (bench/capacity.mjs). " +
      "Local D1 (workerd's SQLite counters, the ones D1 bills), local R2 and queue producers, running the relay's own ingest route, " +
      "callbacks consumer, deliveries consumer and sweep expiry. Per callback unless named per batch. " +
      "`shard` is the event shard a callback's rows go to; `everyShard` is what each event shard reads for every callback of a batch " +
      "(with S shards, S times); `control` is the control database (DB), per consumer batch.",
    measured: {
      ...gitState(),
      date: new Date().toISOString().slice(0, 10),
      batch,
      rounds,
      bodyBytes,
      body: "test/fixtures/inbound-transfer.sample.json, a new callid each",
    },
    ingest: {
      callbacks: batch,
      d1RowsRead: r(ingestTotals.read / batch, 4),
      d1RowsWritten: r(ingestTotals.written / batch, 4),
      queueMessages: r((ingest.queueMessages.callbacks ?? 0) / batch, 4),
      queueMessageBytes: r((ingest.queueBytes.callbacks ?? 0) / Math.max(1, ingest.queueMessages.callbacks ?? 0), 0),
    },
    happyPath: rows.map(({ destinations, n, rec, e, kept }) => ({
      destinations,
      callbacks: n,
      batches: rounds,
      ...perCallback(rec, n, rounds),
      expiry: { d1RowsWritten: r(e.written, 4), d1RowsRead: r(e.read, 4), sqlMs: r(e.ms, 4) },
      d1BytesPerCallback: { kept: r(kept, 0) },
    })),
    afterExpiry: {
      callbacks: expiredCallbacks,
      d1BytesPerCallback: r(afterExpiry, 0),
      releasedShare: r(released / stored, 4),
    },
    failedFirstAttempt: {
      destinations: 1,
      callbacks: batch,
      ...perCallback(failing, batch, 1),
      retryRound: perCallback(retry, batch, 1),
      expiry: { d1RowsWritten: r(fe.written, 4), d1RowsRead: r(fe.read, 4), sqlMs: r(fe.ms, 4) },
    },
    sweepIdle: {
      purgeRowsReadPerShard: idle.purge.read,
      expiryRowsReadPerTenantAndShard: idle.expiry.read,
    },
    refill: { destinations: 1, callbacks: rounds * batch, d1BytesPerCallback: r(refillGrew, 0) },
  };
  mkdirSync(dirname(resultsPath), { recursive: true });
  writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${resultsPath.slice(root.length + 1)} (${results.measured.commit ?? "no commit"}${results.measured.uncommittedChanges ? ", with uncommitted changes" : ""})`);

  await stopWorker(worker);
  await sink.close();
}

try {
  await main();
} catch (err) {
  console.error(err.stack ?? err);
  process.exitCode = 1;
}
process.exit();
