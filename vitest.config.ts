import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  return {
    test: {
      projects: [
        {
          // Everything but the browser tests runs in the Workers runtime.
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  TEST_MIGRATIONS: migrations,
                  ADMIN_TOKEN: "test-admin-token",
                  // A fixed 32-byte key, for tests only; real keys come from secrets.
                  ENCRYPTION_KEY: "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdCE=",
                  ALLOW_INSECURE_DESTINATIONS: "true",
                  RETRY_SCHEDULE: "5,300,1800,7200,18000,36000,36000",
                },
                // Every test request comes from one client address; the real
                // limits are exercised with stub limiters in the rate-limit tests.
                ratelimits: {
                  INGEST_LIMITER: { namespace_id: "42001", simple: { limit: 1_000_000, period: 10 } },
                  ADMIN_AUTH_LIMITER: { namespace_id: "42002", simple: { limit: 1_000_000, period: 60 } },
                },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/*.test.ts"],
            setupFiles: ["./test/setup.ts"],
            globalSetup: ["./test/local-servers.mjs"],
            testTimeout: 30_000,
          },
        },
        {
          // The dashboard and portal in Debian's chromium, against `npm start` on a free local port.
          test: {
            name: "browser",
            environment: "node",
            include: ["test/browser/**/*.test.ts"],
            testTimeout: 60_000,
            hookTimeout: 120_000,
          },
        },
      ],
    },
  };
});
