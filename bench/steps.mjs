#!/usr/bin/env node
// `npm run bench:steps`: where one callback's time goes inside the Worker
// (auth, body read, JSON parse, validation, event id hash, queue send), the
// relay's own ingest functions timed one by one in workerd, beside the whole
// relay on the same requests. `npm run bench` prints the same table at its end.
//
// Settings (environment): BENCH_STEPS_SECONDS (20), BENCH_WARMUP_SECONDS (2).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killAllNow } from "./lib/processes.mjs";
import { measureSteps, stepsReport } from "./lib/steps.mjs";

const seconds = Number(process.env.BENCH_STEPS_SECONDS || 20);
const warmup = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const stateRoot = mkdtempSync(join(tmpdir(), "airudder-steps-"));
process.on("exit", () => {
  killAllNow();
  rmSync(stateRoot, { recursive: true, force: true });
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => process.exit(130));

try {
  const result = await measureSteps({ stateRoot, seconds, warmup, since: Date.now() });
  process.stdout.write(stepsReport(result) + "\n");
} catch (err) {
  process.stderr.write(`bench:steps failed: ${err.stack ?? err}\n`);
  process.exitCode = 1;
}
process.exit();
