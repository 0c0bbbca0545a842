// Where one callback's time goes inside the Worker: bench/steps/ serves the
// ingest path twice over, alternating callback by callback, once as the
// relay's own ingest functions called one by one with a timer around each,
// once as the relay's whole app. Whole minus the steps is what the framework
// around them costs (routing, middleware, the answer's headers).
//
// One connection, so that no other callback's work runs inside a step's
// await: a step's time is its own (for the queue send, the local queue's too).
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { load } from "./load.mjs";
import { applyMigrations, startWorker, stopWorker } from "./processes.mjs";
import { fmt, table } from "./stats.mjs";

const configPath = "bench/steps/wrangler.toml";
const PATH = "/v1/callbacks/bench/inbound-transfer";

/** The steps in the route's order; the rows of the table. */
export const STEPS = ["request start", "auth", "rate limit", "checks", "body read", "JSON parse", "validation", "event id hash", "queue send", "answer"];

/** Runs the measurement; answers the tallies ({ step: { n, sum, sumSq } } in ms) and the load's figures. */
export async function measureSteps({ stateRoot, seconds, warmup, since }) {
  const adminToken = `bench-${randomBytes(12).toString("hex")}`;
  const persistDir = mkdtempSync(join(stateRoot, "steps-"));
  await applyMigrations(configPath, persistDir);
  const worker = await startWorker({
    name: "steps",
    configPath,
    persistDir,
    healthPath: "/healthz",
    vars: { ADMIN_TOKEN: adminToken, ENCRYPTION_KEY: randomBytes(32).toString("base64") },
    since,
  });
  try {
    const res = await fetch(`${worker.base}/v1/admin/tenants`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ id: "bench" }),
    });
    if (res.status !== 201) throw new Error(`steps worker: tenant not created (${res.status} ${await res.text()})`);
    const headers = { authorization: `Bearer ${(await res.json()).ingest_token}` };
    if (warmup > 0) await load({ base: worker.base, path: PATH, headers, seconds: warmup, connections: 1 });
    await fetch(`${worker.base}/bench/steps/reset`, { method: "POST" });
    const run = await load({ base: worker.base, path: PATH, headers, seconds, connections: 1 });
    const tallies = await (await fetch(`${worker.base}/bench/steps`)).json();
    return { tallies, run, lines: worker.lines };
  } finally {
    await stopWorker(worker);
  }
}

const mean = (t) => (t && t.n ? t.sum / t.n : null);
/** Standard error of the mean, in ms. */
const stderr = (t) => (t && t.n > 1 ? Math.sqrt(Math.max(0, t.sumSq / t.n - (t.sum / t.n) ** 2) / (t.n - 1)) : null);
const us = (ms, digits = 0) => fmt(ms === null ? null : ms * 1000, digits);

/** The breakdown as printed: µs per callback, ± standard error, and each step's share of the whole relay. */
export function stepsReport({ tallies, run }) {
  const whole = mean(tallies["whole relay"]);
  const stepsTotal = mean(tallies["steps total"]);
  const share = (ms) => (ms === null || !whole ? "n/a" : `${((100 * ms) / whole).toFixed(0)} %`);
  const rows = STEPS.map((name) => {
    const t = tallies[name];
    return [name, us(mean(t)), `± ${us(stderr(t))}`, share(mean(t))];
  });
  const framework = whole === null || stepsTotal === null ? null : whole - stepsTotal;
  const lines = [
    `Per-step time inside the Worker, µs per callback (${tallies["whole relay"]?.n ?? 0} callbacks through the whole relay, ` +
      `${tallies["steps total"]?.n ?? 0} through the steps; one connection, ${fmt(run.rps)} req/s)`,
    table([
      ["step", "µs", "± s.e.", "of whole"],
      ...rows,
      ["sum of the steps", us(stepsTotal), `± ${us(stderr(tallies["steps total"]))}`, share(stepsTotal)],
      ["framework around them", us(framework), "", share(framework)],
      ["whole relay (app.fetch)", us(whole), `± ${us(stderr(tallies["whole relay"]))}`, share(whole)],
    ]),
    "workerd's clock ticks in whole ms: each mean is over many callbacks (a step of d < 1 ms crosses a tick with probability d)",
  ];
  return lines.join("\n");
}
