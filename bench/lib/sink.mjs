// The local destination: a CRM that answers at once (200, or 500 under
// /fail for the retry measurements) and notes when each event (webhook-id)
// first arrived.
import { createServer } from "node:http";

export async function startSink() {
  const firstSeen = new Map();
  let requests = 0;
  const waiting = new Map();
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      requests++;
      const id = req.headers["webhook-id"];
      if (typeof id === "string" && !firstSeen.has(id)) {
        const at = Date.now();
        firstSeen.set(id, at);
        waiting.get(id)?.(at);
        waiting.delete(id);
      }
      const failing = req.url.startsWith("/fail");
      res.writeHead(failing ? 500 : 200, { "content-type": "application/json" });
      res.end(failing ? '{"ok":false}' : '{"ok":true}');
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    failingUrl: `http://127.0.0.1:${server.address().port}/fail`,
    firstSeen,
    requests: () => requests,
    /** Resolves with the arrival time of `id`, or null after `ms`. */
    arrival(id, ms) {
      if (firstSeen.has(id)) return Promise.resolve(firstSeen.get(id));
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve(null);
        }, ms);
        waiting.set(id, (at) => {
          clearTimeout(timer);
          resolve(at);
        });
      });
    },
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}
