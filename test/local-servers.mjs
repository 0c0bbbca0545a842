// Plain JavaScript: it runs in Node (vitest's global setup), and the project
// has no Node types; what it provides is typed in test/env.d.ts.
import http from "node:http";
import net from "node:net";

const listen = (server) => new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));

/**
 * Real sockets for the network-error tests, which workerd cannot open for
 * itself: started in Node before the tests, on loopback only.
 */
export default async function setup(project) {
  const sockets = new Set();
  // Accepts connections and never answers.
  const silent = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
  });
  const plain = http.createServer((_req, res) => res.end("ok"));
  project.provide("silentPort", await listen(silent));
  project.provide("plainHttpPort", await listen(plain));
  return async () => {
    for (const s of sockets) s.destroy();
    plain.closeAllConnections();
    await Promise.all([silent, plain].map((s) => new Promise((resolve) => s.close(resolve))));
  };
}
