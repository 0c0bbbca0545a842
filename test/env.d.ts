import type { D1Migration } from "cloudflare:test";
import type { Env as RelayEnv } from "../src/env";

declare global {
  namespace Cloudflare {
    interface Env extends RelayEnv {
      TEST_MIGRATIONS: D1Migration[];
      EVENTS_0: D1Database;
      EVENTS_1: D1Database;
    }
    interface GlobalProps {
      mainModule: typeof import("../src/index");
    }
  }
}


declare module "vitest" {
  /** What test/local-servers.mjs starts on 127.0.0.1 for the network-error tests. */
  export interface ProvidedContext {
    /** A TCP server that accepts connections and never answers. */
    silentPort: number;
    /** A plain-HTTP server (a TLS handshake with it fails). */
    plainHttpPort: number;
  }
}
