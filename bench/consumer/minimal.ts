import minimal from "../minimal/index";
import { timedConsumer } from "./timed-consumer";

type MinimalEnv = Parameters<typeof minimal.queue>[1];

/** The minimal Worker's consumer (one D1 batch per batch) under bench/minimal/wrangler.toml (see timed-consumer.ts). */
export default timedConsumer<MinimalEnv, Parameters<typeof minimal.queue>[0]["messages"][number]["body"]>({
  fetch: minimal.fetch,
  queue: minimal.queue,
  queueBinding: "QUEUE",
  queueName: "bench-minimal-callbacks",
  stored: async (env) => (await env.DB.prepare("SELECT COUNT(*) AS n FROM callbacks").first<{ n: number }>())!.n,
});
