import type { Env } from "../env";

/** Hono's type parameters for this app: the Worker's bindings and per-request values. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
  };
}
