#!/usr/bin/env node
// `npm run receiver`: a mock CRM on 127.0.0.1 for trying the relay by hand
// and for `npm run chaos`. Verifies each delivery's Standard Webhooks
// signature when given the destination's secret, and misbehaves on demand
// (errors, 429 with Retry-After, hangs, 410) so that retries, back-off and
// auto-disable can be watched.
import { appendFileSync } from "node:fs";
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Webhook } from "standardwebhooks";

const USAGE = `usage: npm run receiver -- [options]
  --port N              listen on 127.0.0.1:N (default 9000; 0 picks a free port)
  --secret whsec_...    verify webhook-signature with this secret; a bad one answers 401
  --fail-rate R         share (0..1) of deliveries answered with --status (default 0)
  --status CODE         the failure status (default 500)
  --rate-limit-rate R   share answered 429 with Retry-After (default 0)
  --retry-after S       the Retry-After seconds of those answers (default 120)
  --hang-rate R         share that is never answered (default 0)
  --delay-ms N          answer every delivery only after N ms, like a slow CRM (default 0)
  --gone                answer every delivery 410 Gone
  --quiet               no line per request
  --log FILE            append one JSON line per request: {at, webhook_id, type, event_tenant, callid, seq, answered, signature_ok}
GET /__stats answers the counts per webhook-id.`;

function fail(message) {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      port: { type: "string", default: "9000" },
      secret: { type: "string" },
      "fail-rate": { type: "string", default: "0" },
      status: { type: "string", default: "500" },
      "rate-limit-rate": { type: "string", default: "0" },
      "retry-after": { type: "string", default: "120" },
      "hang-rate": { type: "string", default: "0" },
      "delay-ms": { type: "string", default: "0" },
      gone: { type: "boolean", default: false },
      quiet: { type: "boolean", default: false },
      log: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  }).values;
} catch (err) {
  fail(err.message);
}
if (parsed.help) {
  console.log(USAGE);
  process.exit(0);
}

function share(name) {
  const value = Number(parsed[name]);
  if (!(value >= 0 && value <= 1)) fail(`--${name} must be a number from 0 to 1`);
  return value;
}
function integer(name, min, max) {
  const value = Number(parsed[name]);
  if (!Number.isInteger(value) || value < min || value > max) fail(`--${name} must be an integer from ${min} to ${max}`);
  return value;
}

const options = {
  port: integer("port", 0, 65535),
  failRate: share("fail-rate"),
  status: integer("status", 100, 599),
  rateLimitRate: share("rate-limit-rate"),
  retryAfter: integer("retry-after", 0, 86_400),
  hangRate: share("hang-rate"),
  delayMs: integer("delay-ms", 0, 600_000),
  gone: parsed.gone,
  quiet: parsed.quiet,
  log: parsed.log,
};
if (options.failRate + options.rateLimitRate + options.hangRate > 1) fail("--fail-rate, --rate-limit-rate and --hang-rate add up to more than 1");

let webhook = null;
if (parsed.secret !== undefined) {
  try {
    webhook = new Webhook(parsed.secret);
  } catch (err) {
    fail(`--secret is not a usable whsec_ secret: ${err.message}`);
  }
}

/** The answer to one verified delivery: `null` means hang. */
function decide() {
  if (options.gone) return { status: 410 };
  const draw = Math.random();
  if (draw < options.failRate) return { status: options.status };
  if (draw < options.failRate + options.rateLimitRate) return { status: 429, retryAfter: options.retryAfter };
  if (draw < options.failRate + options.rateLimitRate + options.hangRate) return null;
  return { status: 200 };
}

const startedAt = new Date().toISOString();
const totals = { requests: 0, answers: {} };
/** Per webhook-id: how often it came, how often it was answered 2xx, and every answer. */
const byWebhookId = new Map();

function count(id, answered) {
  const key = answered === null ? "hang" : String(answered);
  totals.requests++;
  totals.answers[key] = (totals.answers[key] ?? 0) + 1;
  const entry = byWebhookId.get(id) ?? { requests: 0, delivered: 0, answers: {} };
  entry.requests++;
  entry.answers[key] = (entry.answers[key] ?? 0) + 1;
  if (answered !== null && answered >= 200 && answered < 300) entry.delivered++;
  byWebhookId.set(id, entry);
}

function record(entry) {
  count(entry.webhook_id, entry.answered);
  // Synchronous, so that a script reading the log never sees half a line.
  if (options.log) appendFileSync(options.log, JSON.stringify(entry) + "\n");
  if (!options.quiet) {
    const verified = entry.signature_ok === null ? "unchecked" : entry.signature_ok ? "verified" : "BAD-SIGNATURE";
    console.log(`${entry.at}  ${entry.webhook_id ?? "-"}  ${entry.type ?? "-"}  ${verified}  ${entry.answered ?? "hang"}`);
  }
}

function verify(body, headers) {
  if (!webhook) return null;
  try {
    webhook.verify(body, headers, { jsonParse: false });
    return true;
  } catch {
    return false;
  }
}

function stats() {
  return {
    started_at: startedAt,
    ...totals,
    webhook_ids: byWebhookId.size,
    delivered_ids: [...byWebhookId.values()].filter((e) => e.delivered > 0).length,
    duplicated_ids: [...byWebhookId.values()].filter((e) => e.delivered > 1).length,
    by_webhook_id: Object.fromEntries(byWebhookId),
  };
}

const hanging = new Set();

const server = createServer((req, res) => {
  if (req.method === "GET" && req.url?.split("?")[0] === "/__stats") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(stats()));
    return;
  }
  if (req.method !== "POST") {
    res.writeHead(405, { allow: "POST", "content-type": "application/json" }).end('{"error":"POST deliveries here"}');
    return;
  }
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    let event = null;
    try {
      event = JSON.parse(body);
    } catch {
      // Not JSON: still answered and recorded, with no type or tenant.
    }
    const signatureOk = verify(body, req.headers);
    const answer = signatureOk === false ? { status: 401 } : decide();
    record({
      at: new Date().toISOString(),
      webhook_id: req.headers["webhook-id"] ?? null,
      type: typeof event?.type === "string" ? event.type : null,
      event_tenant: typeof event?.tenant === "string" ? event.tenant : null,
      callid: typeof event?.data?.callid === "string" ? event.data.callid : null,
      seq: typeof event?.seq === "number" ? event.seq : null,
      answered: answer === null ? null : answer.status,
      signature_ok: signatureOk,
    });
    if (answer === null) {
      hanging.add(res);
      res.on("close", () => hanging.delete(res));
      return;
    }
    const headers = { "content-type": "application/json" };
    if (answer.retryAfter !== undefined) headers["retry-after"] = String(answer.retryAfter);
    const reply = () => res.writeHead(answer.status, headers).end(JSON.stringify({ received: answer.status < 300 }));
    if (options.delayMs > 0) setTimeout(reply, options.delayMs);
    else reply();
  });
});

server.on("error", (err) => {
  console.error(`receiver: ${err.message}`);
  process.exit(1);
});

server.listen(options.port, "127.0.0.1", () => {
  const { port } = server.address();
  const behaviour = options.gone
    ? "410 Gone to every delivery"
    : `fail ${options.failRate} (${options.status}), 429 ${options.rateLimitRate} (Retry-After ${options.retryAfter}), hang ${options.hangRate}, else 200${options.delayMs ? `, each after ${options.delayMs} ms` : ""}`;
  console.log(`receiver listening at http://127.0.0.1:${port}/  (${webhook ? "verifying signatures" : "signatures not checked: no --secret"}; ${behaviour})`);
  console.log(`  stats: http://127.0.0.1:${port}/__stats${options.log ? `   log: ${options.log}` : ""}`);
});

function shutdown() {
  for (const res of hanging) res.destroy();
  server.close(() => {
    const s = stats();
    console.log(`receiver stopped: ${s.requests} request(s), ${s.delivered_ids} webhook-id(s) delivered, ${s.duplicated_ids} delivered more than once`);
    process.exit(0);
  });
  server.closeAllConnections();
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
