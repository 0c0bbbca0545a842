import { buildApp } from "../../src/app";
import { handleQueue } from "../../src/consumer/queue-handler";
import type { Env } from "../../src/env";
import { noopStore } from "../lib/noop-store";

/**
 * The whole relay, under the relay's wrangler.toml, with its R2 puts no-ops
 * (bench/lib/noop-store.ts): between the relay and relay-ingest in
 * `npm run bench`, it splits the consumer's share of the gap to the minimal
 * Worker into the local R2 simulator and the rest (gzip, the event shards).
 * Never deployed.
 */
export default {
  fetch: buildApp().fetch,
  queue: (batch, env, ctx) => handleQueue(batch, { ...env, STORE: noopStore }, ctx),
} satisfies ExportedHandler<Env, unknown>;
