#!/usr/bin/env node
// `npm run bench:gzip`: what gzipping one callback body costs in workerd,
// zlib at level 1 (src/storage/payloads.ts) beside its default level 6 and a
// CompressionStream, on the 9.6 KB test fixture. All must gunzip back to it.
//
// Settings (environment): BENCH_GZIP_RUNS (5) runs of BENCH_GZIP_N (2000) bodies each; medians printed.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killAllNow, startWorker, stopWorker } from "./lib/processes.mjs";
import { fmt, median, table } from "./lib/stats.mjs";

const runs = Number(process.env.BENCH_GZIP_RUNS || 5);
const n = Number(process.env.BENCH_GZIP_N || 2000);
const stateDir = mkdtempSync(join(tmpdir(), "airudder-gzip-"));
process.on("exit", () => {
  killAllNow();
  rmSync(stateDir, { recursive: true, force: true });
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => process.exit(130));

try {
  const worker = await startWorker({ name: "gzip", configPath: "bench/gzip/wrangler.toml", persistDir: stateDir, healthPath: "/?n=100", since: Date.now() });
  const results = [];
  try {
    for (let i = 0; i < runs; i++) {
      const res = await fetch(`${worker.base}/?n=${n}`);
      const json = await res.json();
      if (!res.ok) throw new Error(json.error);
      results.push(json);
    }
  } finally {
    await stopWorker(worker);
  }
  const us = (name) => median(results.map((r) => r.usPerBody[name]));
  const row = (label, name) => [label, fmt(us(name), 1), results[0].outputBytes[name], results.map((r) => fmt(r.usPerBody[name], 1)).join(" / ")];
  console.log(`Gzipping a ${results[0].bodyBytes}-byte callback body in workerd, µs per body (median of ${runs} runs of ${n})`);
  console.log(
    table([
      ["method", "µs", "bytes", "by run"],
      row("zlib gzipSync level 1 (src/storage/payloads.ts)", "level1"),
      row("zlib gzipSync level 6 (default)", "level6"),
      row('CompressionStream("gzip")', "compressionStream"),
    ]),
  );
  console.log(`level 6 / level 1: ${fmt(us("level6") / us("level1"), 2)}×`);
} catch (err) {
  console.error(`bench:gzip failed: ${err.stack ?? err}`);
  process.exitCode = 1;
}
process.exit();
