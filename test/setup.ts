import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// The control database and every event shard take the same migrations.
for (const db of [env.DB, env.EVENTS_0, env.EVENTS_1]) await applyD1Migrations(db, env.TEST_MIGRATIONS);
