// Load with autocannon: every request carries a new callid, so the relay
// takes the new-event path (store + deliveries), never its dedup path.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import autocannon from "autocannon";
import { root } from "./processes.mjs";

const fixture = readFileSync(join(root, "test", "fixtures", "inbound-transfer.sample.json"), "utf8");
const sampleCallid = JSON.parse(fixture).callid;
// The callid also appears inside transfer_call_id; replacing every occurrence keeps the body coherent.
const pieces = fixture.split(sampleCallid);

/** Bytes of one callback: the fixture's size, since the new callid has the sample's length. */
export const bodyBytes = Buffer.byteLength(fixture);

const runPrefix = randomBytes(4).toString("hex");
let counter = 0;

/** The fixture with a callid never sent before (32 hex characters, like AiRudder's). */
export function nextCallback() {
  const callid = runPrefix + (counter++).toString(16).padStart(24, "0");
  return pieces.join(callid);
}

/**
 * `connections` keep-alive connections, each sending the next request as soon
 * as the last answered, for `seconds`. `onAccepted(body, at)` sees every 2xx
 * answer and the time it arrived.
 */
export async function load({ base, path, headers, seconds, connections, onAccepted }) {
  const result = await autocannon({
    url: base,
    connections,
    duration: seconds,
    timeout: 30,
    requests: [
      {
        method: "POST",
        path,
        headers: { "content-type": "application/json", ...headers },
        setupRequest: (req) => ({ ...req, body: nextCallback() }),
        ...(onAccepted
          ? {
              onResponse: (status, body) => {
                if (status >= 200 && status < 300) onAccepted(body, Date.now());
              },
            }
          : {}),
      },
    ],
  });
  const codes = Object.entries(result.statusCodeStats ?? {})
    .filter(([code]) => !code.startsWith("2"))
    .map(([code, { count }]) => `${code}×${count}`);
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok: result["2xx"],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    codes,
  };
}
