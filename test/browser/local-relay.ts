import { spawn, type ChildProcess } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ADMIN_TOKEN = "browser-test-admin-token";

/** A port nobody listens on now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** `npm start` (scripts/start.mjs) on a free port with state in a temporary directory. */
export async function startRelay(): Promise<{ base: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const persist = mkdtempSync(join(tmpdir(), "relay-browser-"));
  const child: ChildProcess = spawn(process.execPath, ["scripts/start.mjs"], {
    cwd: join(import.meta.dirname, "..", ".."),
    env: {
      ...process.env,
      PORT: String(port),
      PERSIST_DIR: persist,
      ADMIN_TOKEN,
      ALLOW_INSECURE_DESTINATIONS: "true",
      // One quick retry, then dead: the deliveries page has something to retry within seconds.
      RETRY_SCHEDULE: "1",
      DELIVERY_TIMEOUT_MS: "3000",
      SWEEP_INTERVAL_SECONDS: "2",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`npm start exited:\n${output}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 600) throw new Error(`npm start did not answer:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    base,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(persist, { recursive: true, force: true });
    },
  };
}

/** A mock CRM on 127.0.0.1: answers 500 on paths containing "fail", 200 otherwise, and remembers every request. */
export async function startCrm(): Promise<{ url: (path: string) => string; requests: { path: string; body: string }[]; stop: () => Promise<void> }> {
  const requests: { path: string; body: string }[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      requests.push({ path: req.url ?? "", body });
      res.writeHead(req.url?.includes("fail") ? 500 : 200, { "content-type": "text/plain" }).end(req.url?.includes("fail") ? "crm is down" : "ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    requests,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}

/** A portal link signed as the relay signs them (see src/dashboard/keys.ts), with any expiry: for the expired-link test. */
export function portalLinkToken(tenant: string, exp: number): string {
  const key = createHmac("sha256", ADMIN_TOKEN).update("airudder-relay dashboard portal-link").digest("hex");
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ aud: "portal-link", sub: tenant, ro: false, exp })}`;
  return `${head}.${createHmac("sha256", key).update(head).digest("base64url")}`;
}

export const uniqueCallId = () => randomBytes(16).toString("hex");
