import { buildApp } from "./app";
import { handleQueue } from "./consumer/queue-handler";
import type { Env } from "./env";
import { sweep } from "./maintenance/sweep";

const app = buildApp();

export default {
  fetch: app.fetch,
  queue: handleQueue,
  scheduled: async (_controller, env) => {
    await sweep(env);
  },
} satisfies ExportedHandler<Env, unknown>;
