import { buildApp } from "../../src/app";
import { handleQueue } from "../../src/consumer/queue-handler";
import { onEveryShard } from "../../src/db/shards";
import type { Env } from "../../src/env";
import { noopStore } from "../lib/noop-store";
import { timedConsumer } from "./timed-consumer";

/** The relay's consumer under the relay's wrangler.toml (see timed-consumer.ts). */
export default timedConsumer<Env, unknown>({
  fetch: buildApp().fetch,
  queue: handleQueue,
  queueBinding: "CALLBACKS_QUEUE",
  queueName: "airudder-relay-callbacks",
  stored: async (env) => {
    const counts = await onEveryShard(env, (shard) => shard.db.prepare("SELECT COUNT(*) AS n FROM events").first<{ n: number }>());
    return counts.reduce((sum, c) => sum + c!.n, 0);
  },
  variants: { "r2-noop": (env) => ({ ...env, STORE: noopStore }) },
});
