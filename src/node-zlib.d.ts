// The one Node API the Worker uses (nodejs_compat, src/storage/payloads.ts). Declared here rather than
// installing @types/node, whose globals would leak Node's types into code that runs in workerd.
declare module "node:zlib" {
  export function gzipSync(data: string | Uint8Array, options?: { level?: number }): Uint8Array;
}
