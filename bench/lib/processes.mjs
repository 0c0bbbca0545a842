// Local Workers under `wrangler dev`, each in its own process group so that
// wrangler and the workerd it starts are stopped together, whatever happens.
import { d1Bindings } from "../../scripts/d1-bindings.mjs";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

export const root = join(import.meta.dirname, "..", "..");
const wrangler = join(root, "node_modules", "wrangler", "bin", "wrangler.js");

/** What `npm start` sets: no network look-ups and no telemetry from a local run. */
const quietEnv = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };

const running = new Set();

const ansi = /\x1b\[[0-9;]*m/g;
/** wrangler's note that crons do not fire locally (the bench needs no sweep): not trouble. */
const benign = /Scheduled Workers are not automatically triggered|To manually trigger a scheduled event|\/cdn-cgi\/local\/scheduled|#test-cron-triggers-locally/;

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Runs wrangler to completion; answers its output, or throws with it. */
export function wranglerOnce(args, extraEnv = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [wrangler, ...args], {
      cwd: root,
      env: { ...quietEnv, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    running.add(child);
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("exit", (code) => {
      running.delete(child);
      if (code === 0) resolve(out);
      else reject(new Error(`wrangler ${args.join(" ")} exited with ${code}:\n${out}`));
    });
  });
}

/** The same migrations to every D1 binding of the config (the control database and each event shard). */
export async function applyMigrations(configPath, persistDir) {
  for (const binding of d1Bindings(configPath)) {
    await wranglerOnce(["d1", "migrations", "apply", binding, "--local", "-c", configPath, "--persist-to", persistDir], { CI: "true" });
  }
}

/**
 * One Worker under `wrangler dev`, started the way scripts/start.mjs starts
 * the relay. Its output is passed on prefixed with its name, and every line
 * is kept with its time so that the report can say what went wrong and when.
 */
export async function startWorker({ name, configPath, script, persistDir, vars = {}, healthPath, since }) {
  const port = await freePort();
  const inspectorPort = await freePort();
  const varArgs = Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const child = spawn(
    process.execPath,
    [
      wrangler,
      "dev",
      // Another entry point under the same config (bench/ingest-only).
      ...(script ? [script] : []),
      "-c",
      configPath,
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(inspectorPort),
      "--persist-to",
      persistDir,
      "--log-level",
      "warn",
      "--show-interactive-dev-session=false",
      ...varArgs,
    ],
    { cwd: root, env: quietEnv, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  running.add(child);
  const worker = { name, child, port, base: `http://127.0.0.1:${port}`, lines: [] };
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (raw) => {
      const line = raw.replace(ansi, "");
      if (line.trim() === "" || benign.test(line)) return;
      worker.lines.push({ at: (Date.now() - since) / 1000, line });
      process.stderr.write(`[${name}] ${line}\n`);
    });
  }
  child.on("exit", () => running.delete(child));

  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(worker.base + healthPath);
      if (res.ok) return worker;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stopWorker(worker);
  throw new Error(`${name} did not come up on ${worker.base}:\n${worker.lines.map((l) => l.line).join("\n")}`);
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is already gone
  }
}

export async function stopWorker(worker) {
  const { child } = worker;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    killGroup(child, "SIGTERM");
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
  // workerd may outlive wrangler by a moment; nothing of the group may stay.
  killGroup(child, "SIGKILL");
  running.delete(child);
}

/** Last resort on exit: synchronous, so it also runs from process.on("exit"). */
export function killAllNow() {
  for (const child of running) killGroup(child, "SIGKILL");
  running.clear();
}

// USER_HZ: 100 on every Linux kernel config in common use; /proc gives times in these ticks.
const ticksPerSecond = 100;

/**
 * CPU time (ms) used so far by every process in the Worker's group: wrangler
 * and workerd, which locally also runs the D1 and Queue simulators. Null where
 * /proc is not there.
 */
export function groupCpuMs(worker) {
  let entries;
  try {
    entries = readdirSync("/proc");
  } catch {
    return null;
  }
  let ticks = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) !== worker.child.pid) continue;
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1000) / ticksPerSecond;
}

/**
 * The small benches that time code inside workerd (bench:sign, bench:gzip):
 * their Worker in a state directory of its own, `path` fetched once as its
 * health check (a warm-up, not counted) and then `runs` times,
 * each run's JSON answered. The Worker and the directory go whatever happens.
 */
export async function runsInWorker({ name, configPath, path, runs }) {
  const stateDir = mkdtempSync(join(tmpdir(), `airudder-${name}-`));
  process.on("exit", () => {
    killAllNow();
    rmSync(stateDir, { recursive: true, force: true });
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => process.exit(130));
  const worker = await startWorker({ name, configPath, persistDir: stateDir, healthPath: path, since: Date.now() });
  try {
    const results = [];
    for (let i = 0; i < runs; i++) {
      const res = await fetch(worker.base + path);
      const json = await res.json();
      if (!res.ok) throw new Error(json.error);
      results.push(json);
    }
    return results;
  } finally {
    await stopWorker(worker);
  }
}
