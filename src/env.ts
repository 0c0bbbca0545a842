import { z } from "zod";
import type { CallbackMessage, DeliveryJob, DeliveryMessage, EraseJob } from "./queue-messages";

/** Bindings, vars and secrets of the Worker: the one definition of `Env`. */
export interface Env {
  /** The control database: tenants, destinations, quarantine, inbox, dead letters, hourly counters. */
  DB: D1Database;
  /** Comma-separated D1 bindings that hold event data (src/db/shards.ts); default DB alone. */
  EVENT_SHARDS?: string;
  /** Where callbacks and dead letters wait while D1 refuses writes. */
  STORE: R2Bucket;
  CALLBACKS_QUEUE: Queue<CallbackMessage>;
  // Operator jobs ride here too: they are rare, and another queue would need a consumer and a dead-letter path of its own.
  DELIVERIES_QUEUE: Queue<DeliveryMessage | DeliveryJob | EraseJob>;
  INGEST_LIMITER: RateLimit;
  ADMIN_AUTH_LIMITER: RateLimit;
  ADMIN_TOKEN?: string;
  ENCRYPTION_KEY?: string;
  /** Comma-separated older keys: they still open what they sealed; ENCRYPTION_KEY seals. */
  ENCRYPTION_KEY_PREVIOUS?: string;
  ALLOW_INSECURE_DESTINATIONS?: string;
  RETRY_SCHEDULE?: string;
  DELIVERY_TIMEOUT_MS?: string;
  MAX_BODY_BYTES?: string;
  ALERT_WEBHOOK_URL?: string;
  ALERT_WEBHOOK_SECRET?: string;
  RETENTION_DAYS?: string;
  METADATA_RETENTION_DAYS?: string;
  SECRET_GRACE_SECONDS?: string;
  DISABLE_AFTER_FAILING_SECONDS?: string;
  DISABLE_AFTER_DEAD_DELIVERIES?: string;
}

const positiveInt = (fallback: number) =>
  z.preprocess(
    (v) => (v === undefined || v === "" ? fallback : Number(v)),
    z.number().int().positive(),
  );

/** Days may be fractions (0.0015 days is about two minutes), for demos and tests of expiry. */
const positiveDays = (fallback: number | undefined) =>
  z.preprocess((v) => (v === undefined || v === "" ? fallback : Number(v)), z.number().positive().finite().optional());

const retrySchedule = z.preprocess(
  (v) =>
    (typeof v === "string" && v.trim() !== "" ? v : "5,300,1800,7200,18000,36000,36000")
      .split(",")
      .map((s) => Number(s.trim())),
  z.array(z.number().nonnegative()).min(1),
);

const configSchema = z.object({
  ADMIN_TOKEN: z.string().min(1).optional().catch(undefined),
  ENCRYPTION_KEY: z.string().min(1).optional().catch(undefined),
  ALLOW_INSECURE_DESTINATIONS: z.preprocess((v) => v === "true", z.boolean()),
  RETRY_SCHEDULE: retrySchedule,
  DELIVERY_TIMEOUT_MS: positiveInt(15_000),
  MAX_BODY_BYTES: positiveInt(1_048_576),
  ALERT_WEBHOOK_URL: z.url().optional().catch(undefined),
  RETENTION_DAYS: positiveDays(30).pipe(z.number()),
  METADATA_RETENTION_DAYS: positiveDays(undefined),
  SECRET_GRACE_SECONDS: positiveInt(24 * 3600),
  DISABLE_AFTER_FAILING_SECONDS: positiveInt(5 * 24 * 3600),
  DISABLE_AFTER_DEAD_DELIVERIES: positiveInt(20),
});

export type Config = z.infer<typeof configSchema> & { METADATA_RETENTION_DAYS: number };

const parsed = new WeakMap<Env, Config>();

/**
 * Vars arrive as strings; this turns them into typed settings once per `env`
 * object. A malformed value fails loudly at the first request rather than
 * half-working.
 */
export function config(env: Env): Config {
  let cfg = parsed.get(env);
  if (!cfg) {
    const read = configSchema.parse(env);
    cfg = { ...read, METADATA_RETENTION_DAYS: read.METADATA_RETENTION_DAYS ?? read.RETENTION_DAYS };
    parsed.set(env, cfg);
  }
  return cfg;
}
