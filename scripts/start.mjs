#!/usr/bin/env node
// `npm start`: the relay on this machine with no Cloudflare account. Applies
// the D1 migrations to local state, then runs `wrangler dev` (Miniflare and
// workerd) with local D1 and Queues, and fires the Cron Trigger on its
// schedule, which `wrangler dev` does not do by itself.
import { d1Bindings } from "./d1-bindings.mjs";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules", "wrangler", "bin", "wrangler.js");

const DEV_ADMIN_TOKEN = "dev-admin-token";

const port = Number(process.env.PORT || 8787);
const persistDir = process.env.PERSIST_DIR || join(root, ".wrangler", "state");
// Seconds between local sweeps; Cloudflare runs the cron every minute.
const sweepSeconds = Number(process.env.SWEEP_INTERVAL_SECONDS || 60);
const adminToken = process.env.ADMIN_TOKEN || DEV_ADMIN_TOKEN;

/** The local encryption key lives in .dev.vars (ignored by git), created on first start. */
function ensureDevVars() {
  const path = join(root, ".dev.vars");
  const current = existsSync(path) ? readFileSync(path, "utf8") : "";
  if (/^ENCRYPTION_KEY=/m.test(current)) return;
  const key = randomBytes(32).toString("base64");
  writeFileSync(path, `${current}${current && !current.endsWith("\n") ? "\n" : ""}ENCRYPTION_KEY=${key}\n`, { mode: 0o600 });
  console.log("Generated a local ENCRYPTION_KEY in .dev.vars");
}

const passThrough = [
  "ALLOW_INSECURE_DESTINATIONS",
  "RETRY_SCHEDULE",
  "DELIVERY_TIMEOUT_MS",
  "MAX_BODY_BYTES",
  "ALERT_WEBHOOK_URL",
  "ALERT_WEBHOOK_SECRET",
  "RETENTION_DAYS",
  "METADATA_RETENTION_DAYS",
  "ENCRYPTION_KEY",
  "ENCRYPTION_KEY_PREVIOUS",
  "SECRET_GRACE_SECONDS",
  "DISABLE_AFTER_FAILING_SECONDS",
  "DISABLE_AFTER_DEAD_DELIVERIES",
];

/**
 * Numbers the Worker would otherwise refuse at its first request, long after
 * start: each is checked here, and a bad one stops npm start saying which and why.
 */
const numericVars = {
  RETENTION_DAYS: { what: "a positive number of days (fractions allowed, e.g. 0.0015)", ok: (n) => n > 0 && Number.isFinite(n) },
  METADATA_RETENTION_DAYS: { what: "a positive number of days (fractions allowed)", ok: (n) => n > 0 && Number.isFinite(n) },
  DELIVERY_TIMEOUT_MS: { what: "a positive whole number of milliseconds", ok: (n) => Number.isInteger(n) && n > 0 },
  MAX_BODY_BYTES: { what: "a positive whole number of bytes", ok: (n) => Number.isInteger(n) && n > 0 },
  SECRET_GRACE_SECONDS: { what: "a positive whole number of seconds", ok: (n) => Number.isInteger(n) && n > 0 },
  DISABLE_AFTER_FAILING_SECONDS: { what: "a positive whole number of seconds", ok: (n) => Number.isInteger(n) && n > 0 },
  DISABLE_AFTER_DEAD_DELIVERIES: { what: "a positive whole number", ok: (n) => Number.isInteger(n) && n > 0 },
};

function checkVars() {
  const problems = [];
  for (const [name, rule] of Object.entries(numericVars)) {
    const raw = process.env[name];
    if (raw === undefined || raw === "") continue;
    if (!rule.ok(Number(raw))) problems.push(`${name}=${JSON.stringify(raw)} must be ${rule.what}`);
  }
  const schedule = process.env.RETRY_SCHEDULE;
  if (schedule && !schedule.split(",").every((s) => s.trim() !== "" && Number(s) >= 0)) {
    problems.push(`RETRY_SCHEDULE=${JSON.stringify(schedule)} must be seconds separated by commas, e.g. 5,300,1800`);
  }
  if (problems.length) {
    console.error(`Not starting:\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
}

/**
 * One line of a dotenv file that reads back as exactly `value`: single quotes
 * or backticks keep it literal for dotenv, and `\$` stops wrangler's
 * dotenv-expand from reading `$NAME` in it as a variable.
 */
function envLine(name, value) {
  const quote = ["'", "`"].find((q) => !value.includes(q));
  if (quote === undefined) {
    console.error(`${name} contains both ' and \`, which a dotenv file cannot hold; not starting.`);
    process.exit(1);
  }
  return `${name}=${quote}${value.replaceAll("$", "\\$")}${quote}\n`;
}

/**
 * The admin token and the passed-through variables go to `wrangler dev` in a
 * file only this user can read, never as `--var NAME:value`: a command line
 * is readable by every local user (`ps`). The file lives in a fresh private
 * directory and is removed when npm start exits.
 */
function writeEnvFile() {
  const dir = mkdtempSync(join(tmpdir(), "airudder-relay-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "vars.env");
  let text = envLine("ADMIN_TOKEN", adminToken);
  for (const name of passThrough) {
    if (process.env[name] !== undefined && process.env[name] !== "") text += envLine(name, process.env[name]);
  }
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

function applyMigrations() {
  for (const binding of d1Bindings(join(root, "wrangler.toml"))) {
    const result = spawnSync(
      process.execPath,
      [wrangler, "d1", "migrations", "apply", binding, "--local", "--persist-to", persistDir],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, CI: "true" }, encoding: "utf8" },
    );
    if (result.status !== 0) {
      process.stderr.write(result.stdout + result.stderr);
      console.error(`Could not apply the D1 migrations to ${binding}; not starting.`);
      process.exit(1);
    }
    const upToDate = /No migrations to apply/i.test(result.stdout);
    console.log(upToDate ? `D1 migrations of ${binding} up to date in ${persistDir}` : `Applied the D1 migrations to ${binding} in ${persistDir}`);
  }
}

async function waitForHealth(base, child) {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) return false;
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

function fireCron(base) {
  fetch(`${base}/__scheduled?cron=${encodeURIComponent("* * * * *")}`).catch((err) =>
    console.error(`sweep trigger failed: ${err.message}`),
  );
}

checkVars();
ensureDevVars();
applyMigrations();

const base = `http://127.0.0.1:${port}`;
const child = spawn(
  process.execPath,
  [
    wrangler,
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--persist-to",
    persistDir,
    "--test-scheduled",
    "--show-interactive-dev-session=false",
    "--log-level",
    process.env.WRANGLER_LOG_LEVEL || "warn",
    // Given --env-file, wrangler reads .dev.vars no more; listed first, the environment's values win over it.
    "--env-file",
    join(root, ".dev.vars"),
    "--env-file",
    writeEnvFile(),
  ],
  {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      // Miniflare's local trace store keeps every request URL, ingest tokens
      // included, in PERSIST_DIR (redact_query_string applies on Cloudflare
      // only), and grows without bound. npm start does not need it.
      X_LOCAL_OBSERVABILITY: "false",
      // wrangler's dev registry is shared by every `wrangler dev` on the machine: a
      // queue with no local consumer in another session would forward its messages
      // to this relay's consumer. A registry of its own keeps them apart.
      WRANGLER_REGISTRY_PATH: process.env.WRANGLER_REGISTRY_PATH || join(persistDir, "dev-registry"),
    },
  },
);

const stop = (signal) => {
  if (child.exitCode === null) child.kill(signal);
};
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));
child.on("exit", (code) => process.exit(code ?? 0));

if (await waitForHealth(base, child)) {
  console.log(`
airudder-relay is running at ${base}
  admin token:  ${adminToken}${process.env.ADMIN_TOKEN ? "" : "   (dev default; set ADMIN_TOKEN to change it)"}
  create a tenant:
    curl -s -X POST ${base}/v1/admin/tenants -H 'authorization: Bearer ${adminToken}' -H 'content-type: application/json' -d '{"id":"acme"}'
  then give AiRudder this callback URL (with the ingest_token from that answer):
    ${base}/v1/callbacks/acme/inbound-transfer?token=<ingest_token>
  sweep (Cron Trigger) every ${sweepSeconds} s; OpenAPI at ${base}/openapi.json
`);
  setInterval(() => fireCron(base), sweepSeconds * 1000).unref();
  fireCron(base);
}
