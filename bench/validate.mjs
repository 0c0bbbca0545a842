#!/usr/bin/env node
// What validating one callback costs when a field holds 1 MB of the wrong
// type, beside 1 MB in an unknown field (which must cost the same or less).
// Runs the relay's own validateCallback, bundled with esbuild, in Node; the
// Worker runs the same zod code in V8.
//
//   npm run bench:validate        (BENCH_RUNS, default 7 runs per case; the median is printed)
import { build } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const runs = Number(process.env.BENCH_RUNS || 7);
const dir = mkdtempSync(join(tmpdir(), "airudder-validate-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const outfile = join(dir, "validate.mjs");
await build({ entryPoints: ["src/ingest/validate.ts"], bundle: true, format: "esm", platform: "neutral", mainFields: ["module", "main"], outfile, logLevel: "error" });
const { validateCallback } = await import(pathToFileURL(outfile).href);

const MB = 1 << 20;
const numbers = () => Array.from({ length: MB / 2 }, () => 1);
const cases = [
  ["1 MB string in an unknown field", { callid: "c1", blob: "x".repeat(MB) }],
  ["1 MB array in an unknown field", { callid: "c1", blob: numbers() }],
  ["callid as a 1 MB array", { callid: numbers() }],
  ["callid as a 1 MB object", { callid: Object.fromEntries(Array.from({ length: MB / 16 }, (_, i) => [`k${i}`, 1])) }],
  ["duration_robot (a number) as a 1 MB string", { callid: "c1", duration_robot: "x".repeat(MB) }],
  ["slots (an array of objects) as a 1 MB array of numbers", { callid: "c1", slots: numbers() }],
  ["asr_result (an array of strings) as a 1 MB array of numbers", { callid: "c1", asr_result: numbers() }],
];

console.log(`validateCallback("inbound-transfer", …), median of ${runs} runs`);
for (const [name, payload] of cases) {
  const text = JSON.stringify(payload);
  const times = [];
  let result;
  for (let i = 0; i < runs; i++) {
    const parsed = JSON.parse(text);
    const start = performance.now();
    result = await validateCallback("inbound-transfer", parsed);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(runs / 2)];
  console.log(`  ${name.padEnd(60)} ${median.toFixed(2).padStart(9)} ms  ${result.ok ? "accepted" : `refused: ${result.issues.map((i) => i.path).join(", ")}`}`);
}
