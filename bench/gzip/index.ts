import { gzipSync } from "node:zlib";
import text from "../../test/fixtures/inbound-transfer.sample.json?raw";

const bytes = new TextEncoder().encode(text);
type Gzip = () => Promise<Uint8Array> | Uint8Array;

const methods: Record<string, Gzip> = {
  level1: () => gzipSync(text, { level: 1 }),
  level6: () => gzipSync(text, { level: 6 }),
  compressionStream: async () =>
    new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer()),
};

const gunzip = (gz: Uint8Array) => new Response(new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip"))).text();

/**
 * `GET /?n=…`: gzips the fixture n times with each method, taking turns in
 * rounds of 100 so that all see the same moments of the machine, and answers
 * µs per body and each method's output bytes. workerd's clock ticks in whole
 * milliseconds, hence blocks of 100 calls. Every output must gunzip back to
 * the fixture, or the comparison means nothing.
 */
export default {
  async fetch(req: Request): Promise<Response> {
    const n = Number(new URL(req.url).searchParams.get("n") ?? 2000);
    const outputBytes: Record<string, number> = {};
    for (const [name, gzip] of Object.entries(methods)) {
      const gz = await gzip();
      if ((await gunzip(gz)) !== text) return Response.json({ error: `${name} does not gunzip back to the fixture` }, { status: 500 });
      outputBytes[name] = gz.byteLength;
    }
    const ms: Record<string, number> = Object.fromEntries(Object.keys(methods).map((name) => [name, 0]));
    for (let done = 0; done < n; done += 100) {
      for (const [name, gzip] of Object.entries(methods)) {
        const start = performance.now();
        for (let i = 0; i < 100; i++) await gzip();
        ms[name]! += performance.now() - start;
      }
    }
    return Response.json({
      n,
      bodyBytes: bytes.byteLength,
      usPerBody: Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, (v * 1000) / n])),
      outputBytes,
    });
  },
};
