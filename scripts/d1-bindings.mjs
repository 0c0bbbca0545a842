// The D1 bindings a wrangler.toml declares (the control database and every
// event shard): each takes the same migrations.
import { readFileSync } from "node:fs";

export function d1Bindings(configPath) {
  const text = readFileSync(configPath, "utf8");
  return [...text.matchAll(/\[\[d1_databases\]\]\s*(?:#[^\n]*\n\s*)*binding\s*=\s*"([^"]+)"/g)].map((m) => m[1]);
}
