import { buildApp } from "../../src/app";
import type { Env } from "../../src/env";

/**
 * The relay's own app, under the relay's wrangler.toml, with a callbacks
 * consumer that acks and stores nothing. Locally the consumer's storage (gzip,
 * R2, the event shards) shares workerd's CPU with ingest; beside the
 * whole relay, this says how much of the relay's gap to the minimal Worker is
 * ingest and how much is that storage. Used by `npm run bench`; never deployed.
 */
export default {
  fetch: buildApp().fetch,
  queue: async (batch) => batch.ackAll(),
} satisfies ExportedHandler<Env, unknown>;
