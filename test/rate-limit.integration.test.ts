import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { INGEST_LIMIT_SAMPLE } from "../src/http/rate-limit";
import worker from "../src/index";
import sample from "./fixtures/inbound-transfer.sample.json?raw";
import { createTenant } from "./helpers";

/** A limiter that allows the first `allowed` calls per key, like the binding with a tiny limit. */
function limiter(allowed: number) {
  const counts = new Map<string, number>();
  return {
    keys: counts,
    limit: async ({ key }: { key: string }) => {
      counts.set(key, (counts.get(key) ?? 0) + 1);
      return { success: counts.get(key)! <= allowed };
    },
  };
}

const send = (e: typeof env, req: Request) => worker.fetch(req, e, createExecutionContext());

describe("rate limits", () => {
  it("answers 429 with Retry-After once a tenant is over its ingest budget, consulting the binding for one callback in INGEST_LIMIT_SAMPLE", async () => {
    const a = await createTenant();
    const b = await createTenant();
    const ingest = limiter(1);
    const limited = { ...env, INGEST_LIMITER: ingest } as typeof env;
    const post = (t: { id: string; token: string }, n: number) =>
      send(
        limited,
        new Request(`https://relay.test/v1/callbacks/${t.id}/inbound-transfer?token=${t.token}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: sample.replace("888d4df71e7744d7bd03080aea48ea9d", `rate-${t.id}-${n}`),
        }),
      );
    for (let n = 0; n < INGEST_LIMIT_SAMPLE; n++) expect((await post(a, n)).status).toBe(200);
    expect(ingest.keys.get(a.id)).toBe(1);

    const refused = await post(a, INGEST_LIMIT_SAMPLE);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("10");
    expect(((await refused.json()) as any).error.code).toBe("rate_limited");
    expect(ingest.keys.get(a.id)).toBe(2);
    // Refused in the isolate for the rest of the period, without asking the binding again.
    expect((await post(a, INGEST_LIMIT_SAMPLE + 1)).status).toBe(429);
    expect(ingest.keys.get(a.id)).toBe(2);

    expect((await post(b, 0)).status).toBe(200);
    expect(ingest.keys.get(b.id)).toBe(1);
  });

  it("does not count failed ingest authentications against the tenant's valid traffic", async () => {
    const t = await createTenant();
    const ingest = limiter(1);
    const limited = { ...env, INGEST_LIMITER: ingest } as typeof env;
    for (let i = 0; i < 5; i++) {
      const res = await send(limited, new Request(`https://relay.test/v1/callbacks/${t.id}/any?token=wrong-${i}`, { method: "POST", body: "{}" }));
      expect(res.status).toBe(401);
    }
    const ok = await send(
      limited,
      new Request(`https://relay.test/v1/callbacks/${t.id}/any?token=${t.token}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"hello":"world"}',
      }),
    );
    expect(ok.status).toBe(200);
  });

  it("slows admin token guessing: past the budget an address is refused, even with the right token", async () => {
    const guard = limiter(3);
    const limited = { ...env, ADMIN_AUTH_LIMITER: guard } as typeof env;
    const ip = "198.51.100.7";
    const attempt = (token: string, from = ip) =>
      send(limited, new Request("https://relay.test/v1/admin/tenants", { headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": from } }));
    for (let i = 0; i < 3; i++) expect((await attempt(`guess-${i}`)).status).toBe(401);
    const fourth = await attempt("guess-3");
    expect(fourth.status).toBe(429);
    expect(Number(fourth.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await attempt(env.ADMIN_TOKEN!)).status).toBe(429);
    expect((await attempt(env.ADMIN_TOKEN!, "198.51.100.8")).status).toBe(200);
  });
});
