#!/usr/bin/env node
// `npm run bench:sign`: what signing one delivery costs in workerd, the
// relay's WebCrypto HMAC (src/delivery/sign.ts) beside the standardwebhooks
// library's own sign(), on a 10 KB envelope. Both must give the same header.
//
// Settings (environment): BENCH_SIGN_RUNS (5) runs of BENCH_SIGN_N (2000) signatures each; medians printed.
import { runsInWorker } from "./lib/processes.mjs";
import { fmt, median, table } from "./lib/stats.mjs";

const runs = Number(process.env.BENCH_SIGN_RUNS || 5);
const n = Number(process.env.BENCH_SIGN_N || 2000);
try {
  const results = await runsInWorker({ name: "sign", configPath: "bench/sign/wrangler.toml", path: `/?n=${n}`, runs });
  const us = (name) => median(results.map((r) => r.usPerSignature[name]));
  const [webcrypto, library] = [us("webcrypto"), us("standardwebhooks")];
  console.log(`Signing a ${results[0].bodyBytes}-byte envelope in workerd, µs per signature (median of ${runs} runs of ${n})`);
  console.log(
    table([
      ["signer", "µs", "by run"],
      ["WebCrypto HMAC (src/delivery/sign.ts)", fmt(webcrypto, 1), results.map((r) => fmt(r.usPerSignature.webcrypto, 1)).join(" / ")],
      ["standardwebhooks Webhook.sign", fmt(library, 1), results.map((r) => fmt(r.usPerSignature.standardwebhooks, 1)).join(" / ")],
    ]),
  );
  console.log(`standardwebhooks / WebCrypto: ${fmt(library / webcrypto, 2)}×`);
} catch (err) {
  console.error(`bench:sign failed: ${err.stack ?? err}`);
  process.exitCode = 1;
}
process.exit();
