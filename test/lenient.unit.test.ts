import { z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { usually } from "../src/callbacks/lenient";
import { validateCallback } from "../src/ingest/validate";

const MB = 1 << 20;

describe("a lenient field's usual shape", () => {
  it("is never run, since any value passes anyway", () => {
    let runs = 0;
    const field = usually(z.array(z.string()).refine(() => ++runs > 0));
    expect(field.safeParse(["a"]).success).toBe(true);
    expect(field.safeParse([1, 2, 3]).success).toBe(true);
    expect(runs).toBe(0);
  });

  it("lets an array field through as a 1 MB array of something else, with no issues", async () => {
    const wrong = Array.from({ length: MB / 2 }, () => 1);
    const result = await validateCallback("inbound-transfer", { callid: "c1", slots: wrong, asr_result: wrong, step_intention: wrong });
    expect(result.ok).toBe(true);
  });
});

describe("the issue for a wrong-typed identity field", () => {
  it.each([
    ["a 1 MB array", Array.from({ length: MB / 2 }, (_, i) => `v${i}`)],
    ["a 1 MB object", Object.fromEntries(Array.from({ length: MB / 16 }, (_, i) => [`v${i}`, "marker"]))],
    ["a boolean", true],
  ])("given %s, is one short issue that does not quote the value", async (_what, callid) => {
    const result = await validateCallback("inbound-transfer", { callid });
    expect(result).toMatchObject({ ok: false, issues: [{ path: "callid", message: "must be a non-empty string" }] });
    expect(JSON.stringify(result).length).toBeLessThan(500);
  });
});
