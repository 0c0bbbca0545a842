import { describe, expect, inject, it } from "vitest";
import { postOnce } from "../src/delivery/post";

// Real connections to servers on 127.0.0.1 (test/local-servers.ts), never
// beyond the machine: what an operator reads in an attempt's `error`.
const post = (url: string, timeoutMs = 5_000) => postOnce(url, { "content-type": "application/json" }, "{}", timeoutMs);

describe("a failed attempt says what happened", () => {
  it("names a refused connection", async () => {
    // Nothing listens on the discard port.
    const result = await post("http://127.0.0.1:9/hook");
    expect(result).toMatchObject({ statusCode: null, error: "connection refused by 127.0.0.1:9" });
  });

  it("names a timeout when the destination accepts but never answers", async () => {
    const result = await post(`http://127.0.0.1:${inject("silentPort")}/hook`, 300);
    expect(result).toMatchObject({ statusCode: null, error: "timed out after 300 ms" });
    expect(result.durationMs).toBeGreaterThanOrEqual(300);
  });

  it("names a TLS failure when https reaches a plain-HTTP server", async () => {
    const port = inject("plainHttpPort");
    const result = await post(`https://127.0.0.1:${port}/hook`);
    expect(result.statusCode).toBeNull();
    expect(result.error).toMatch(new RegExp(`^TLS handshake with 127\\.0\\.0\\.1:${port} failed \\(workerd: internal error; reference = \\w+\\)$`));
  });

  it("keeps a plain-HTTP answer's status and no error", async () => {
    const result = await post(`http://127.0.0.1:${inject("plainHttpPort")}/hook`);
    expect(result).toMatchObject({ statusCode: 200, error: null, responseBody: "ok" });
  });
});
