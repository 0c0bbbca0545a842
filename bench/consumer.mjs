#!/usr/bin/env node
// `npm run bench:consumer`: what the callbacks consumer costs per callback,
// alone in workerd. bench/consumer/ is the relay under its own
// wrangler.toml with the callbacks queue caught: the same ~10 KB callbacks as
// `npm run bench` go through the relay's ingest, then the relay's queue
// handler stores them in full batches (tenant without destinations: gzip, one
// R2 object, the event rows in D1) while the Worker times each batch. Beside
// it: the relay with its R2 put a no-op (what the local R2 costs), and the
// minimal Worker of `npm run bench`, whose consumer stores each batch with one
// D1 batch(), bodies and all.
//
// Beside the time inside the Worker, each row gives the workerd + wrangler
// process CPU per callback over its runs (from /proc, the stored-count check
// included): the simulators' own work, which the Worker's clock misses.
//
// Locally this work shares workerd's CPU with ingest, which is why the
// relay's ingest rate trails the minimal Worker's in `npm run bench`; on
// Cloudflare consumer invocations run apart from the requests.
//
// Settings (environment): BENCH_CONSUMER_RUNS (5) runs per row, each of
// BENCH_CONSUMER_BATCHES (10) batches of BENCH_CONSUMER_SIZE (100) callbacks;
// one more run first, as a warm-up, not counted.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nextCallback } from "./lib/load.mjs";
import { applyMigrations, groupCpuMs, killAllNow, startWorker, stopWorker } from "./lib/processes.mjs";
import { fmt, median, table } from "./lib/stats.mjs";

const runs = Number(process.env.BENCH_CONSUMER_RUNS || 5);
const batches = Number(process.env.BENCH_CONSUMER_BATCHES || 10);
const size = Number(process.env.BENCH_CONSUMER_SIZE || 100);
const stateDir = mkdtempSync(join(tmpdir(), "airudder-consumer-"));
process.on("exit", () => {
  killAllNow();
  rmSync(stateDir, { recursive: true, force: true });
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => process.exit(130));

/** `n` callbacks through the Worker's ingest, 32 at a time; it keeps their queue messages. */
async function ingest(worker, headers, n) {
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < n) {
        next++;
        const res = await fetch(`${worker.base}/v1/callbacks/bench/inbound-transfer`, { method: "POST", headers, body: nextCallback() });
        if (res.status !== 200) throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
      }
    }),
  );
}

/** A Worker of bench/consumer/ with the config it wraps; answers where to post callbacks and with what headers. */
async function start(name, configPath, script, healthPath) {
  const persistDir = mkdtempSync(join(stateDir, `${name}-`));
  await applyMigrations(configPath, persistDir);
  const adminToken = `bench-${randomBytes(12).toString("hex")}`;
  const vars = { ADMIN_TOKEN: adminToken, ENCRYPTION_KEY: randomBytes(32).toString("base64") };
  const worker = await startWorker({ name, configPath, script, persistDir, healthPath, vars, since: Date.now() });
  worker.headers = { authorization: "Bearer bench", "content-type": "application/json" };
  if (name === "relay") {
    const res = await fetch(`${worker.base}/v1/admin/tenants`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ id: "bench" }),
    });
    if (res.status !== 201) throw new Error(`tenant not created (${res.status} ${await res.text()})`);
    worker.headers.authorization = `Bearer ${(await res.json()).ingest_token}`;
  }
  worker.stored = 0;
  return worker;
}

const workers = [];
try {
  const relay = await start("relay", "wrangler.toml", "bench/consumer/relay.ts", "/healthz");
  workers.push(relay);
  const minimal = await start("minimal", "bench/minimal/wrangler.toml", "bench/consumer/minimal.ts", "/count");
  workers.push(minimal);
  const rows = [
    { name: "relay, as deployed", worker: relay, query: "" },
    { name: "relay, R2 put a no-op", worker: relay, query: "&variant=r2-noop" },
    { name: "minimal Worker (one D1 batch)", worker: minimal, query: "" },
  ];
  for (const row of rows) {
    row.runs = [];
    row.cpu = [];
  }
  for (let run = 0; run <= runs; run++) {
    for (const row of rows) {
      const { worker } = row;
      await ingest(worker, worker.headers, batches * size);
      const cpu0 = groupCpuMs(worker);
      const answer = await fetch(`${worker.base}/bench/consumer/run?size=${size}${row.query}`, { method: "POST" });
      if (!answer.ok) throw new Error(`${row.name}: run answered ${answer.status}: ${await answer.text()}`);
      const result = await answer.json();
      const cpuMs = cpu0 === null ? null : groupCpuMs(worker) - cpu0;
      if (result.msPerBatch.length !== batches) throw new Error(`${row.name}: expected ${batches} batches, the Worker timed ${result.msPerBatch.length}`);
      // Every callback so far is stored once: the batches did the work they were timed for.
      worker.stored += batches * size;
      if (result.stored !== worker.stored) throw new Error(`${row.name}: expected ${worker.stored} callbacks stored, found ${result.stored}`);
      if (run > 0) {
        row.runs.push(result.msPerBatch);
        if (cpuMs !== null) row.cpu.push(cpuMs / (batches * size));
      }
    }
  }
  const ms = (row) => median(row.runs.flat());
  const cpuUs = (row) => (row.cpu.length ? fmt(median(row.cpu) * 1000) : "-");
  const us = (batchMs) => fmt((batchMs * 1000) / size);
  console.log(
    `Callbacks consumers alone in workerd, tenant without destinations: ${runs} runs of ${batches} batches of ${size} callbacks per row ` +
      "(rows take turns run by run; medians)",
  );
  const [deployed, noR2, least] = rows.map(ms);
  console.log(
    table([
      ["consumer", "ms per batch", "µs per callback", "median by run (ms)", "process CPU µs per callback"],
      ...rows.map((row) => [row.name, fmt(ms(row), 1), us(ms(row)), row.runs.map((r) => fmt(median(r), 1)).join(" / "), cpuUs(row)]),
      ["the local R2 put (first two rows)", fmt(deployed - noR2, 1), us(deployed - noR2), "", ""],
      ["relay beyond the minimal Worker", fmt(deployed - least, 1), us(deployed - least), "", ""],
    ]),
  );
} catch (err) {
  console.error(`bench:consumer failed: ${err.stack ?? err}`);
  process.exitCode = 1;
} finally {
  for (const worker of workers) await stopWorker(worker);
}
process.exit();
