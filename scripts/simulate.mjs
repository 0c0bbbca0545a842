#!/usr/bin/env node
// `npm run simulate -- --url http://127.0.0.1:8787/v1/callbacks/<tenant> --token <ingest token>`
//
// Plays AiRudder against a running relay: every fixture of
// test/fixtures/families to the kind it belongs to, a few of them again
// through `any` (which must give the same event_id), one byte-identical resend
// (AiRudder's retry) and two deliberately broken callbacks. One line per post,
// then a summary; the exit code is 1 when any answer was not the expected one.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const REQUEST_TIMEOUT_MS = 10_000;

const USAGE = `usage: npm run simulate -- --url <ingest URL base> --token <ingest token> [--fixtures DIR]
  --url URL        the tenant's callback base, without the kind, e.g. http://127.0.0.1:8787/v1/callbacks/acme
  --token TOKEN    the tenant's ingest_token (from POST /v1/admin/tenants)
  --fixtures DIR   the callbacks to send (default test/fixtures/families)
  -h, --help       this text
Exits 1 when any answer was not the expected one, 2 on a usage error.`;

function usageError(message) {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

let values;
try {
  values = parseArgs({
    options: {
      url: { type: "string" },
      token: { type: "string" },
      fixtures: { type: "string", default: join(dirname(fileURLToPath(import.meta.url)), "..", "test", "fixtures", "families") },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  }).values;
} catch (err) {
  usageError(err.message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!values.url || !values.token) usageError("--url and --token are required");
const base = values.url.replace(/\/+$/, "");

/** `pds-agent-status.full.json` goes to `pds`; every other fixture to the kind its name starts with. */
const kindOf = (name) => (name.startsWith("pds-") ? "pds" : name.split(".")[0]);

const fixtures = readdirSync(values.fixtures)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => ({ name: f.replace(/\.json$/, ""), body: readFileSync(join(values.fixtures, f), "utf8") }));
if (fixtures.length === 0) {
  console.error(`no fixtures in ${values.fixtures}`);
  process.exit(2);
}

async function post(kind, body) {
  const url = new URL(`${base}/${kind}`);
  url.searchParams.set("token", values.token);
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "Airudder" },
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    let answer = null;
    try {
      answer = JSON.parse(text);
    } catch {
      // not the relay's JSON: reported by status alone
    }
    return { status: res.status, eventId: answer?.event_id ?? null, code: answer?.error?.code ?? null };
  } catch (err) {
    return { status: 0, eventId: null, code: err?.name === "TimeoutError" ? "timeout" : "network_error" };
  }
}

const results = [];
const idByFixture = new Map();

/** Posts once, prints one line, and records whether the answer was the expected one. */
async function run(label, kind, body, expect) {
  const r = await post(kind, body);
  const problem = expect(r);
  results.push({ ...r, ok: problem === null });
  const outcome = r.eventId ?? r.code ?? "-";
  console.log(`${problem === null ? "ok  " : "FAIL"} ${kind.padEnd(16)} ${String(r.status).padEnd(3)} ${outcome.padEnd(36)} ${label}${problem ? `  (${problem})` : ""}`);
  return r;
}

const accepted = (r) => (r.status === 200 && r.eventId ? null : "expected 200 with an event_id");
const sameAs = (id) => (r) => accepted(r) ?? (r.eventId === id ? null : `expected the same event_id ${id}`);
const refused = (status, code) => (r) => (r.status === status && r.code === code ? null : `expected ${status} ${code}`);

for (const f of fixtures) {
  const r = await run(f.name, kindOf(f.name), f.body, accepted);
  idByFixture.set(f.name, r.eventId);
}

// A URL shared by several families: `any` reads the family from the shape, and the id is the same event's.
const viaAny = new Set(["inbound-transfer.full", "pds-contact-status.quirky", "qa-report.full", "workflow.quirky"]);
for (const f of fixtures.filter((x) => viaAny.has(x.name))) {
  await run(`${f.name} via any`, "any", f.body, sameAs(idByFixture.get(f.name)));
}

// AiRudder's retry after a non-200 (or a lost answer): the same bytes, the same event.
const resent = fixtures[0];
await run(`${resent.name} resent`, kindOf(resent.name), resent.body, sameAs(idByFixture.get(resent.name)));

await run("PDS with an empty body (quarantined)", "pds", '{"type":"AgentStatus","body":{}}', refused(422, "invalid_payload"));
await run("truncated JSON", "workflow", '{"workflow_id":"wf_cut', refused(400, "invalid_json"));

const byStatus = new Map();
for (const r of results) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
const failed = results.filter((r) => !r.ok).length;
console.log(
  `\n${results.length} posts: ${[...byStatus].map(([s, n]) => `${n}× ${s === 0 ? "no answer" : s}`).join(", ")}; ` +
    (failed === 0 ? "every answer as expected" : `${failed} not as expected`),
);
process.exit(failed === 0 ? 0 : 1);
