#!/usr/bin/env node
// `npm run bench:gzip`: what gzipping one callback body costs in workerd,
// zlib at level 1 (src/storage/payloads.ts) beside its default level 6 and a
// CompressionStream, on the 9.6 KB test fixture. All must gunzip back to it.
//
// Settings (environment): BENCH_GZIP_RUNS (5) runs of BENCH_GZIP_N (2000) bodies each; medians printed.
import { runsInWorker } from "./lib/processes.mjs";
import { fmt, median, table } from "./lib/stats.mjs";

const runs = Number(process.env.BENCH_GZIP_RUNS || 5);
const n = Number(process.env.BENCH_GZIP_N || 2000);
try {
  const results = await runsInWorker({ name: "gzip", configPath: "bench/gzip/wrangler.toml", path: `/?n=${n}`, runs });
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
