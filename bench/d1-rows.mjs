#!/usr/bin/env node
// What one consumer batch of the relay really costs in D1 and Queues: the
// relay's own store/deliver/retry/purge code runs against the relay's schema
// in local D1 (bench/d1-rows/), and every statement's rows read and written,
// as D1 counts them for billing, is added up per callback. docs/COST.md is
// built on these numbers.
//
//   node bench/d1-rows.mjs        (BENCH_BATCH, default 100 callbacks per batch)
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nextCallback } from "./lib/load.mjs";
import { applyMigrations, killAllNow, startWorker, stopWorker } from "./lib/processes.mjs";
import { startSink } from "./lib/sink.mjs";
import { fmt, table } from "./lib/stats.mjs";

const batch = Number(process.env.BENCH_BATCH || 100);
const configPath = "bench/d1-rows/wrangler.toml";
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
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

async function tenantWith(worker, id, urls) {
  await call(worker, "POST", "/v1/admin/tenants", { id });
  for (const url of urls) await call(worker, "POST", `/v1/admin/tenants/${id}/destinations`, { url });
}

/** Statements grouped by their text, with D1's counts summed. */
function summarise(rec) {
  const groups = new Map();
  for (const s of rec.statements) {
    const g = groups.get(s.sql) ?? { sql: s.sql, n: 0, read: 0, written: 0, ms: 0 };
    g.n++;
    g.read += s.rows_read;
    g.written += s.rows_written;
    g.ms += s.duration;
    groups.set(s.sql, g);
  }
  const total = [...groups.values()].reduce((t, g) => ({ read: t.read + g.read, written: t.written + g.written, ms: t.ms + g.ms }), { read: 0, written: 0, ms: 0 });
  return { groups: [...groups.values()], total };
}

function print(title, rec, per) {
  const { groups, total } = summarise(rec);
  const queue = Object.entries(rec.queueMessages).map(([q, n]) => `${n} to ${q}`).join(", ") || "none";
  const grew = rec.sizeAfter !== null && rec.sizeBefore !== null ? rec.sizeAfter - rec.sizeBefore : null;
  console.log(`\n${title}`);
  console.log(
    table([
      ["statement", "times", "rows read", "rows written", "SQL ms"],
      ...groups.map((g) => [g.sql, g.n, g.read, g.written, fmt(g.ms, 2)]),
      ["total", rec.statements.length, total.read, total.written, fmt(total.ms, 2)],
      [`per callback (÷ ${per})`, fmt(rec.statements.length / per, 2), fmt(total.read / per, 2), fmt(total.written / per, 2), fmt(total.ms / per, 3)],
    ]),
  );
  console.log(`queue messages sent: ${queue}; database grew ${grew === null ? "n/a" : `${grew} bytes (${fmt(grew / per)} per callback)`}`);
  return { ...total, perCallback: { read: total.read / per, written: total.written / per, ms: total.ms / per }, grew };
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
  console.log(`One consumer batch of ${batch} new inbound-transfer callbacks (${Buffer.byteLength(bodies()[0])} bytes each), first attempts answered at once`);

  // A warm-up batch, so that later batches see a non-empty database as production does.
  await tenantWith(worker, "warm", [sink.url]);
  await call(worker, "POST", "/__measure/store", { tenant: "warm", bodies: bodies() });

  for (const destinations of [0, 1, 3, 10]) {
    const tenant = `d${destinations}`;
    await tenantWith(worker, tenant, Array.from({ length: destinations }, () => sink.url));
    const rec = await call(worker, "POST", "/__measure/store", { tenant, bodies: bodies() });
    print(`${destinations} destination(s), every first attempt 200`, rec, batch);
  }

  await tenantWith(worker, "failing", [sink.failingUrl]);
  const first = await call(worker, "POST", "/__measure/store", { tenant: "failing", bodies: bodies() });
  print("1 destination answering 500: store + failed first attempt", first, batch);
  const retry = await call(worker, "POST", "/__measure/retry", { tenant: "failing" });
  print("…its retry batch (deliveries queue), failing again", retry, batch);

  // Retention on a tenant of its own: what a callback occupies while kept, what stays after the purge,
  // and what the purge reads when it has nothing left to do.
  const rounds = 5;
  await tenantWith(worker, "kept", [sink.url]);
  const s0 = (await call(worker, "POST", "/__measure/size", { tenant: "kept" })).sizeBefore;
  for (let i = 0; i < rounds; i++) await call(worker, "POST", "/__measure/store", { tenant: "kept", bodies: bodies() });
  const s1 = (await call(worker, "POST", "/__measure/size", { tenant: "kept" })).sizeBefore;
  const purge = await call(worker, "POST", "/__measure/purge", { tenant: "kept", ageDays: 31 });
  const s2 = purge.sizeAfter;
  const n = rounds * batch;
  console.log(`\nretention of ${n} callbacks (1 destination) older than 30 days, run twice: the second run has nothing left to do`);
  const perRun = purge.statements.length / 2;
  console.log(
    table([
      ["run", "statement", "rows read", "rows written"],
      ...purge.statements.map((st, i) => [Math.floor(i / perRun) + 1, st.sql, st.rows_read, st.rows_written]),
    ]),
  );
  const expiryWritten = purge.statements.reduce((t, st) => t + st.rows_written, 0);
  console.log(`expiry: ${fmt(expiryWritten / n, 2)} rows written per callback`);
  console.log(
    `database: ${fmt((s1 - s0) / n)} bytes per callback while its payload is kept, ` +
      `${fmt((s2 - s0) / n)} bytes per callback after expiry`,
  );

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
