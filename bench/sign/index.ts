import { Webhook } from "standardwebhooks";
import { newSigningSecret, signatureHeader } from "../../src/delivery/sign";

/** An envelope of the size a 10 KB callback makes. */
const body = JSON.stringify({ id: "evt_0", type: "airudder.inbound.transfer", tenant: "bench", data: { pad: "x".repeat(9_600) } });
type Signer = (id: string, at: number) => Promise<string> | string;

/** A fresh secret per request: random values cannot be made at start-up in workerd. */
function signers(): Record<string, Signer> {
  const secret = newSigningSecret();
  const library = new Webhook(secret);
  return {
    webcrypto: (id, at) => signatureHeader([secret], id, at, body),
    standardwebhooks: (id, at) => library.sign(id, new Date(at * 1000), body),
  };
}

/**
 * `GET /?n=…`: signs n messages with each signer, taking turns in rounds of
 * 100 so that both see the same moments of the machine, and answers µs per
 * signature. Both must produce the same header, or the comparison means nothing.
 */
export default {
  async fetch(req: Request): Promise<Response> {
    const n = Number(new URL(req.url).searchParams.get("n") ?? 2000);
    const at = Math.floor(Date.now() / 1000);
    const both = signers();
    const a = await both.webcrypto!("msg_check", at);
    const b = await both.standardwebhooks!("msg_check", at);
    if (a !== b) return Response.json({ error: `the signers disagree: ${a} vs ${b}` }, { status: 500 });
    const ms: Record<string, number> = { webcrypto: 0, standardwebhooks: 0 };
    for (let done = 0; done < n; done += 100) {
      for (const [name, sign] of Object.entries(both)) {
        const start = performance.now();
        for (let i = 0; i < 100; i++) await sign(`msg_${done + i}`, at);
        ms[name]! += performance.now() - start;
      }
    }
    return Response.json({ n, bodyBytes: body.length, usPerSignature: Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, (v * 1000) / n])) });
  },
};
