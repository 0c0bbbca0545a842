#!/usr/bin/env node
// npm run deploy: applies the migrations to the control database and to every
// event shard wrangler.toml declares, then deploys the Worker. A migration
// that fails stops the deploy before the new code runs against an old schema.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { d1Bindings } from "./d1-bindings.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules", "wrangler", "bin", "wrangler.js");
const run = (args) => spawnSync(process.execPath, [wrangler, ...args], { cwd: root, stdio: "inherit" }).status === 0;

for (const binding of d1Bindings(join(root, "wrangler.toml"))) {
  if (!run(["d1", "migrations", "apply", binding, "--remote"])) {
    console.error(`Migrations of ${binding} failed; not deploying.`);
    process.exit(1);
  }
}
process.exit(run(["deploy"]) ? 0 : 1);
