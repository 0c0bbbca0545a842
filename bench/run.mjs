#!/usr/bin/env node
// `npm run bench`: the relay against two reference Workers, under the same
// `wrangler dev`, with the same ~10 KB inbound callbacks, in one run.
//
//   bare     answers 200 and does nothing else: the floor of the local stack
//   minimal  Hono + zod + one QUEUE.send, and a consumer storing each batch
//            with one D1 batch(): what a hand-written relay would do
//   relay    this project, unchanged
//   relay-no-r2  the relay with its R2 puts no-ops (bench/no-r2): what the
//            local R2 simulator, inside workerd, takes of the gap
//   relay-ingest  the relay's app with a callbacks consumer that only acks
//            (bench/ingest-only): ingest's share of the gap, apart from the
//            consumer's storage, which locally shares workerd's CPU
//
// Phase 1 (ingest) loads each in turn, round after round in rotating order,
// with a tenant that has no destinations. Phase 2 (end to end) starts fresh
// copies, gives the relay's tenant one local destination, and compares how
// fast callbacks turn into deliveries with how fast the minimal Worker only
// stores them. Phase 3 (steps) times the relay's own ingest functions one by
// one inside workerd (bench/lib/steps.mjs). Targets are printed next to the
// results, never asserted.
//
// Settings (environment): BENCH_SECONDS (10) per load, BENCH_ROUNDS (3),
// BENCH_CONNECTIONS (50), BENCH_WARMUP_SECONDS (2), BENCH_DRAIN_TIMEOUT_SECONDS
// (120) for a backlog to clear, BENCH_PROBES (10) lone callbacks timed from
// their 200 to their delivery, BENCH_STEPS_SECONDS (20) for phase 3.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { bodyBytes, load, nextCallback } from "./lib/load.mjs";
import { applyMigrations, groupCpuMs, killAllNow, startWorker, stopWorker, wranglerOnce } from "./lib/processes.mjs";
import { startSink } from "./lib/sink.mjs";
import { fmt, median, table, verdict } from "./lib/stats.mjs";
import { measureSteps, stepsReport } from "./lib/steps.mjs";

function setting(name, fallback, min) {
  const raw = process.env[name];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number ≥ ${min}, not ${raw}`);
  return value;
}

const cfg = {
  seconds: setting("BENCH_SECONDS", 10, 1),
  rounds: Math.floor(setting("BENCH_ROUNDS", 3, 1)),
  connections: Math.floor(setting("BENCH_CONNECTIONS", 50, 1)),
  warmup: setting("BENCH_WARMUP_SECONDS", 2, 0),
  drainTimeout: setting("BENCH_DRAIN_TIMEOUT_SECONDS", 120, 1),
  probes: Math.floor(setting("BENCH_PROBES", 10, 0)),
  stepsSeconds: setting("BENCH_STEPS_SECONDS", 20, 1),
};

const TENANT = "bench";
const PATH = `/v1/callbacks/${TENANT}/inbound-transfer`;
const started = Date.now();
const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);
const log = (msg) => process.stderr.write(`[bench ${elapsed()}s] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const stateRoot = mkdtempSync(join(tmpdir(), "airudder-bench-"));
process.on("exit", () => {
  killAllNow();
  rmSync(stateRoot, { recursive: true, force: true });
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    log(`${signal}: stopping every Worker`);
    process.exit(130);
  });
}

const adminToken = `bench-${randomBytes(12).toString("hex")}`;
const kinds = {
  bare: { configPath: "bench/bare/wrangler.toml", healthPath: "/" },
  minimal: { configPath: "bench/minimal/wrangler.toml", healthPath: "/count", migrate: true },
  relay: {
    configPath: "wrangler.toml",
    healthPath: "/healthz",
    migrate: true,
    vars: { ADMIN_TOKEN: adminToken, ENCRYPTION_KEY: randomBytes(32).toString("base64") },
  },
};
kinds["relay-no-r2"] = { ...kinds.relay, script: "bench/no-r2/index.ts" };
kinds["relay-ingest"] = { ...kinds.relay, script: "bench/ingest-only/index.ts" };
/** The phase-1 Workers, in the order of their rows. */
const PHASE1 = ["bare", "minimal", "relay", "relay-no-r2", "relay-ingest"];
/** The Workers whose stored count the bench can read: the rest store nothing. */
const storing = new Set(["minimal", "relay", "relay-no-r2"]);

/** A fresh state directory per start: no run sees another run's D1 or queues. */
async function start(name, extraVars = {}) {
  const kind = kinds[name];
  const persistDir = mkdtempSync(join(stateRoot, `${name}-`));
  if (kind.migrate) await applyMigrations(kind.configPath, persistDir);
  return startWorker({
    name,
    configPath: kind.configPath,
    script: kind.script,
    persistDir,
    healthPath: kind.healthPath,
    vars: { ...kind.vars, ...extraVars },
    since: started,
  });
}

async function admin(relay, method, path, body) {
  const res = await fetch(relay.base + path, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

/** How many callbacks a Worker has stored so far; null for those that store nothing (bare, relay-ingest). */
async function storedCount(worker) {
  if (!storing.has(worker.name)) return null;
  if (worker.name === "minimal") return (await (await fetch(`${worker.base}/count`)).json()).count;
  const { data } = await admin(worker, "GET", `/v1/admin/stats?tenant=${TENANT}&since=${new Date(started - 3600_000).toISOString()}`);
  return data.reduce((n, h) => n + h.received, 0);
}

/** Waits until the Worker has stored `target` callbacks; answers when that was seen, or null on timeout. */
async function storedBy(worker, target) {
  const deadline = Date.now() + cfg.drainTimeout * 1000;
  while (Date.now() < deadline) {
    if ((await storedCount(worker)) >= target) return Date.now();
    await sleep(200);
  }
  return null;
}

const segments = [];

/** One load of one Worker, with what its consumer then needs to catch up (and the CPU that took). */
async function ingestSegment(worker, headers, phase, round, seconds) {
  const before = await storedCount(worker);
  const cpu0 = groupCpuMs(worker);
  const at = elapsed();
  const res = await load({ base: worker.base, path: PATH, headers, seconds, connections: cfg.connections });
  let drained = true;
  if (before !== null) drained = (await storedBy(worker, before + res.ok)) !== null;
  const cpu1 = groupCpuMs(worker);
  const cpuPerCallback = cpu0 === null || res.ok === 0 ? null : (cpu1 - cpu0) / res.ok;
  const segment = { phase, round, worker: worker.name, at, ...res, drained, cpuPerCallback };
  segments.push(segment);
  log(
    `${phase} ${round} ${worker.name}: ${fmt(res.rps)} req/s, p50 ${res.p50} ms, p99 ${res.p99} ms, non-2xx ${res.non2xx}` +
      `${res.codes.length ? ` (${res.codes.join(", ")})` : ""}, errors ${res.errors}${drained ? "" : ", backlog NOT drained"}`,
  );
  return segment;
}

/**
 * End to end through the relay: every callback the load got a 200 for, timed
 * until the local destination has seen it. Rate = callbacks / (start of the
 * load to the last first delivery).
 */
async function relayDrainSegment(relay, sink, headers, round, seconds) {
  const acceptedAt = new Map();
  const cpu0 = groupCpuMs(relay);
  const t0 = Date.now();
  const at = elapsed();
  const res = await load({
    base: relay.base,
    path: PATH,
    headers,
    seconds,
    connections: cfg.connections,
    onAccepted: (body, when) => acceptedAt.set(JSON.parse(body).event_id, when),
  });
  const deadline = Date.now() + cfg.drainTimeout * 1000;
  let delivered = 0;
  while (Date.now() < deadline) {
    delivered = 0;
    for (const id of acceptedAt.keys()) if (sink.firstSeen.has(id)) delivered++;
    if (delivered === acceptedAt.size) break;
    await sleep(100);
  }
  const cpu1 = groupCpuMs(relay);
  let last = t0;
  const latencies = [];
  for (const [id, when] of acceptedAt) {
    const arrived = sink.firstSeen.get(id);
    if (arrived === undefined) continue;
    last = Math.max(last, arrived);
    latencies.push(arrived - when);
  }
  const drained = delivered === acceptedAt.size;
  const segment = {
    phase: "e2e",
    round,
    worker: "relay",
    at,
    ...res,
    drained,
    // An incomplete drain is rated by what arrived before the timeout.
    drainRate: delivered / ((drained ? last - t0 : deadline - t0) / 1000),
    firstDeliveryMs: median(latencies),
    cpuPerCallback: cpu0 === null || delivered === 0 ? null : (cpu1 - cpu0) / delivered,
  };
  segments.push(segment);
  log(
    `e2e ${round} relay: ${acceptedAt.size} accepted, ${delivered} delivered, drain ${fmt(segment.drainRate)}/s, ` +
      `200→delivery median ${fmt(segment.firstDeliveryMs)} ms under load, non-2xx ${res.non2xx}` +
      `${res.codes.length ? ` (${res.codes.join(", ")})` : ""}, errors ${res.errors}${drained ? "" : ", NOT all delivered"}`,
  );
  return segment;
}

/** The minimal Worker's store-only drain: callbacks / (start of the load to the last row in its D1). */
async function minimalDrainSegment(minimal, headers, round, seconds) {
  const before = await storedCount(minimal);
  const cpu0 = groupCpuMs(minimal);
  const t0 = Date.now();
  const at = elapsed();
  const res = await load({ base: minimal.base, path: PATH, headers, seconds, connections: cfg.connections });
  const doneAt = await storedBy(minimal, before + res.ok);
  const cpu1 = groupCpuMs(minimal);
  const stored = (await storedCount(minimal)) - before;
  const segment = {
    phase: "e2e",
    round,
    worker: "minimal",
    at,
    ...res,
    drained: doneAt !== null,
    drainRate: doneAt !== null ? res.ok / ((doneAt - t0) / 1000) : stored / cfg.drainTimeout,
    cpuPerCallback: cpu0 === null || res.ok === 0 ? null : (cpu1 - cpu0) / res.ok,
  };
  segments.push(segment);
  log(`e2e ${round} minimal: ${res.ok} accepted, drain ${fmt(segment.drainRate)}/s, non-2xx ${res.non2xx}, errors ${res.errors}`);
  return segment;
}

/** Lone callbacks, one at a time: the time from the 200 to the first delivery when nothing is queued. */
async function probeFirstDelivery(relay, sink, headers) {
  const times = [];
  for (let i = 0; i < cfg.probes; i++) {
    const res = await fetch(relay.base + PATH, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: nextCallback() });
    const answeredAt = Date.now();
    const json = await res.json();
    if (!res.ok) {
      log(`probe ${i + 1}: relay answered ${res.status} ${JSON.stringify(json)}`);
      continue;
    }
    const arrived = await sink.arrival(json.event_id, 15_000);
    if (arrived === null) log(`probe ${i + 1}: no delivery within 15 s`);
    else times.push(arrived - answeredAt);
    await sleep(300);
  }
  return times;
}

async function bundleSize() {
  const outdir = mkdtempSync(join(stateRoot, "dist-"));
  const out = await wranglerOnce(["deploy", "--dry-run", "--outdir", outdir]);
  const m = /Total Upload:\s*([\d.]+)\s*KiB\s*\/\s*gzip:\s*([\d.]+)\s*KiB/.exec(out);
  return m ? { line: m[0], gzipKiB: Number(m[2]) } : { line: "(no Total Upload line in the dry-run output)", gzipKiB: null };
}

const rotate = (list, n) => list.map((_, i) => list[(i + n) % list.length]);
const only = (phase, worker) => segments.filter((s) => s.phase === phase && s.worker === worker && s.round !== "warmup");

async function main() {
  log(
    `${cfg.rounds} round(s) × ${cfg.seconds} s at ${cfg.connections} connections, ${bodyBytes}-byte bodies; ` +
      `${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`,
  );
  if (cfg.rounds < 3) log("fewer than 3 rounds: a smoke run, not a measurement");

  const bundle = await bundleSize();
  log(`bundle: ${bundle.line}`);

  // ---- phase 1: ingest ----
  log(`phase 1: starting ${PHASE1.join(", ")}`);
  const phase1 = await Promise.all(PHASE1.map((n) => start(n)));
  const byName = Object.fromEntries(phase1.map((w) => [w.name, w]));
  const { ingest_token } = await admin(byName.relay, "POST", "/v1/admin/tenants", { id: TENANT });
  // Every Worker gets the same request bytes, token included; only the relays check it.
  const headers = { authorization: `Bearer ${ingest_token}` };
  // Each relay variant has its own D1, so its own tenant: a token of the same length.
  const tokens = { relay: ingest_token };
  for (const name of ["relay-no-r2", "relay-ingest"]) tokens[name] = (await admin(byName[name], "POST", "/v1/admin/tenants", { id: TENANT })).ingest_token;
  const headersOf = (w) => (w.name in tokens ? { authorization: `Bearer ${tokens[w.name]}` } : headers);

  if (cfg.warmup > 0) {
    for (const w of phase1) await ingestSegment(w, headersOf(w), "ingest", "warmup", cfg.warmup);
  }
  for (let r = 0; r < cfg.rounds; r++) {
    for (const w of rotate(phase1, r)) await ingestSegment(w, headersOf(w), "ingest", `${r + 1}/${cfg.rounds}`, cfg.seconds);
  }
  const relayLogs1 = byName.relay.lines.slice();
  await Promise.all(phase1.map(stopWorker));

  // ---- phase 2: end to end ----
  log("phase 2: fresh minimal and relay, one local destination");
  const sink = await startSink();
  const [minimal, relay] = await Promise.all([start("minimal"), start("relay", { ALLOW_INSECURE_DESTINATIONS: "true" })]);
  const tenant = await admin(relay, "POST", "/v1/admin/tenants", { id: TENANT });
  await admin(relay, "POST", `/v1/admin/tenants/${TENANT}/destinations`, { url: sink.url });
  const headers2 = { authorization: `Bearer ${tenant.ingest_token}` };

  if (cfg.warmup > 0) {
    await relayDrainSegment(relay, sink, headers2, "warmup", cfg.warmup);
    await minimalDrainSegment(minimal, headers2, "warmup", cfg.warmup);
  }
  for (let r = 0; r < cfg.rounds; r++) {
    const order = r % 2 === 0 ? ["relay", "minimal"] : ["minimal", "relay"];
    for (const name of order) {
      const round = `${r + 1}/${cfg.rounds}`;
      if (name === "relay") await relayDrainSegment(relay, sink, headers2, round, cfg.seconds);
      else await minimalDrainSegment(minimal, headers2, round, cfg.seconds);
    }
  }
  log(`probing the first delivery with ${cfg.probes} lone callback(s)`);
  const probes = await probeFirstDelivery(relay, sink, headers2);
  const sinkRequests = sink.requests();
  const sinkUnique = sink.firstSeen.size;
  const relayLogs2 = relay.lines.slice();
  await Promise.all([stopWorker(minimal), stopWorker(relay)]);
  await sink.close();

  // ---- phase 3: where a callback's time goes ----
  log(`phase 3: the relay's ingest steps, one connection, ${cfg.stepsSeconds} s`);
  const steps = await measureSteps({ stateRoot, seconds: cfg.stepsSeconds, warmup: cfg.warmup, since: started });

  report({ bundle, probes, sinkRequests, sinkUnique, relayLogs: [...relayLogs1, ...relayLogs2], steps });
}

function report({ bundle, probes, sinkRequests, sinkUnique, relayLogs, steps }) {
  const out = [];
  const say = (s = "") => out.push(s);
  say(`airudder-relay bench: ${cfg.rounds} round(s) × ${cfg.seconds} s, ${cfg.connections} connections, ${bodyBytes}-byte inbound-transfer callbacks, each with a new callid`);
  say(`machine: ${cpus().length} CPUs, load average at the end ${loadavg().map((l) => l.toFixed(2)).join(" ")}; total time ${elapsed()} s`);
  say();

  const ingest = {};
  for (const name of PHASE1) {
    const s = only("ingest", name);
    ingest[name] = {
      rps: median(s.map((x) => x.rps)),
      p50: median(s.map((x) => x.p50)),
      p99: median(s.map((x) => x.p99)),
      non2xx: s.reduce((n, x) => n + x.non2xx, 0),
      errors: s.reduce((n, x) => n + x.errors + x.timeouts, 0),
      rounds: s.map((x) => fmt(x.rps)).join(" / "),
      cpu: median(s.map((x) => x.cpuPerCallback)),
      drained: s.every((x) => x.drained),
      stores: storing.has(name),
    };
  }
  say("Ingest, tenant without destinations (medians over rounds; non-2xx and errors summed)");
  say(
    table([
      ["worker", "req/s", "p50 ms", "p99 ms", "non-2xx", "errors", "req/s by round", "local CPU ms/callback", "backlog drained"],
      ...Object.entries(ingest).map(([name, m]) => [
        name, fmt(m.rps), fmt(m.p50), fmt(m.p99), m.non2xx, m.errors, m.rounds, fmt(m.cpu, 2), m.stores ? (m.drained ? "yes" : "NO") : "-",
      ]),
    ]),
  );
  say();

  const e2eRelay = only("e2e", "relay");
  const e2eMinimal = only("e2e", "minimal");
  const drain = {
    relay: median(e2eRelay.map((s) => s.drainRate)),
    minimal: median(e2eMinimal.map((s) => s.drainRate)),
  };
  say("End to end, one local destination (relay: accepted → delivered; minimal: accepted → stored)");
  say(
    table([
      ["worker", "drain/s", "drain/s by round", "ingest req/s", "non-2xx", "errors", "all drained", "local CPU ms/callback"],
      ...[
        ["relay", e2eRelay, drain.relay],
        ["minimal", e2eMinimal, drain.minimal],
      ].map(([name, s, rate]) => [
        name,
        fmt(rate),
        s.map((x) => fmt(x.drainRate)).join(" / "),
        fmt(median(s.map((x) => x.rps))),
        s.reduce((n, x) => n + x.non2xx, 0),
        s.reduce((n, x) => n + x.errors + x.timeouts, 0),
        s.every((x) => x.drained) ? "yes" : "NO",
        fmt(median(s.map((x) => x.cpuPerCallback)), 2),
      ]),
    ]),
  );
  const underLoad = median(e2eRelay.map((s) => s.firstDeliveryMs));
  const quiet = median(probes);
  say(`200 → first delivery: median ${fmt(quiet)} ms over ${probes.length} lone callback(s) (max ${fmt(probes.length ? Math.max(...probes) : null)} ms); under load ${fmt(underLoad)} ms`);
  say(`local destination: ${sinkRequests} request(s) for ${sinkUnique} distinct event(s) (${sinkRequests - sinkUnique} repeated)`);
  say();

  const relay = ingest.relay;
  const ratio = (a, b) => (a === null || b === null || b === 0 ? null : a / b);
  const rb = ratio(relay.rps, ingest.bare.rps);
  const rm = ratio(relay.rps, ingest.minimal.rps);
  const p99 = ratio(relay.p99, ingest.minimal.p99);
  // The same targets for ingest alone: the relay's app with a consumer that only acks.
  const im = ratio(ingest["relay-ingest"].rps, ingest.minimal.rps);
  const ib = ratio(ingest["relay-ingest"].rps, ingest.bare.rps);
  const ip99 = ratio(ingest["relay-ingest"].p99, ingest.minimal.p99);
  const relayNon2xx = relay.non2xx + relay.errors + e2eRelay.reduce((n, x) => n + x.non2xx + x.errors + x.timeouts, 0);
  const dr = ratio(drain.relay, drain.minimal);
  say("Targets (reported, not asserted)");
  say(
    table([
      ["measure", "value", "target", "verdict"],
      ["relay/minimal req/s", fmt(rm, 2), "≥ 0.90", verdict(rm, rm >= 0.9)],
      ["relay/bare req/s", fmt(rb, 2), "≥ 0.65", verdict(rb, rb >= 0.65)],
      ["relay p99 / minimal p99", fmt(p99, 2), "≤ 1.25", verdict(p99, p99 <= 1.25)],
      ["relay-ingest/minimal req/s", fmt(im, 2), "≥ 0.90", verdict(im, im >= 0.9)],
      ["relay-ingest/bare req/s", fmt(ib, 2), "≥ 0.65", verdict(ib, ib >= 0.65)],
      ["relay-ingest p99 / minimal p99", fmt(ip99, 2), "≤ 1.25", verdict(ip99, ip99 <= 1.25)],
      ["relay non-2xx + errors", relayNon2xx, "0", verdict(relayNon2xx, relayNon2xx === 0)],
      ["relay drain / minimal store-only drain", fmt(dr, 2), "≥ 0.50", verdict(dr, dr >= 0.5)],
      ["200 → first delivery, median ms", fmt(quiet), "≤ 1000", verdict(quiet, quiet <= 1000)],
      ["bundle gzip KiB", fmt(bundle.gzipKiB, 2), "≤ 150", verdict(bundle.gzipKiB, bundle.gzipKiB <= 150)],
    ]),
  );
  say(`bundle: ${bundle.line}`);
  const noR2Share = ratio(ingest["relay-no-r2"].rps, ingest.minimal.rps);
  say("Where the relay's gap to the minimal Worker is, in this run (req/s / minimal's; locally the consumer shares workerd's CPU with ingest):");
  say(`  relay-ingest (a consumer that only acks) ${fmt(im, 2)}: ingest alone`);
  say(`  relay-no-r2 (R2 puts no-ops)             ${fmt(noR2Share, 2)}: ingest and the consumer without the local R2 simulator`);
  say(`  relay                                    ${fmt(rm, 2)}: all of it`);
  say();
  say(stepsReport(steps));

  const bad = segments.filter((s) => s.worker === "relay" && (s.non2xx || s.errors || s.timeouts || !s.drained));
  if (bad.length || relayLogs.length) {
    say();
    say("Relay trouble, by time since the start of the bench");
    for (const s of bad) {
      say(`  ${s.at}s ${s.phase} ${s.round}: non-2xx ${s.non2xx}${s.codes.length ? ` (${s.codes.join(", ")})` : ""}, errors ${s.errors}, timeouts ${s.timeouts}${s.drained ? "" : ", backlog not cleared in time"}`);
    }
    for (const l of relayLogs.slice(0, 20)) say(`  ${l.at.toFixed(1)}s log: ${l.line.slice(0, 300)}`);
    if (relayLogs.length > 20) say(`  … ${relayLogs.length - 20} more log line(s)`);
  }
  say();
  say("local CPU = wrangler + workerd (which also runs the local D1 and Queue simulators), per callback stored or delivered; an upper bound for the Worker's own CPU");
  process.stdout.write(out.join("\n") + "\n");
}

try {
  await main();
} catch (err) {
  log(`bench failed: ${err.stack ?? err}`);
  process.exitCode = 1;
}
process.exit();
