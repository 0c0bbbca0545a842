import { connect } from "cloudflare:sockets";

/**
 * What a bare TCP connection to the destination's host and port came to:
 * `open` (it connected; nothing was sent), `failed` (it could not), or
 * `unknown` (no answer in the time left).
 */
export type TcpProbe = "open" | "failed" | "unknown";

/**
 * workerd's fetch hides why a request failed. What it throws, observed with
 * workerd under wrangler 4.156.2 (`npm start`) and the tests:
 *
 * - connection refused, reset, or closed before any answer:
 *   `Network connection lost.`
 * - the host name does not resolve (`nothing.invalid`, `crm.example.com`
 *   offline): `internal error; reference = <id>`, while workerd's own log
 *   says `failed to lookup address information: Name or service not known`
 * - a TLS handshake that fails (https to a plain-HTTP port):
 *   `internal error; reference = <id>`, its log saying `TLS handshake failed`
 *
 * A refused connection never reads as an internal error, so after an
 * opaque failure a TCP connection to the same host and port tells the cases
 * apart: one that cannot be made means the name did not resolve, one that
 * can means the trouble came after connecting (TLS for https).
 */
export function describeNetworkError(message: string, url: URL, probe: TcpProbe): string {
  const target = `${url.hostname}:${portOf(url)}`;
  if (message.startsWith("Network connection lost")) {
    if (probe === "failed") return `connection refused by ${target}`;
    if (probe === "open") return `connection to ${target} closed before an answer`;
    return `connection to ${target} refused or closed before an answer`;
  }
  if (message.startsWith("internal error")) {
    const detail = `(workerd: ${message})`;
    if (probe === "failed") {
      return isIpLiteral(url.hostname) ? `could not connect to ${target} ${detail}` : `DNS lookup failed for ${url.hostname} ${detail}`;
    }
    if (probe === "open") {
      return url.protocol === "https:" ? `TLS handshake with ${target} failed ${detail}` : `request to ${target} failed after connecting ${detail}`;
    }
    return `DNS lookup or TLS handshake failed for ${target} ${detail}`;
  }
  return `network error: ${message}`;
}

/** Whether workerd's message is one whose cause a TCP probe can tell. */
export const needsProbe = (message: string): boolean =>
  message.startsWith("Network connection lost") || message.startsWith("internal error");

/** Opens a TCP connection to the URL's host and port, sends nothing, and closes it. */
export async function probeTcp(url: URL, timeoutMs: number): Promise<TcpProbe> {
  if (timeoutMs <= 0) return "unknown";
  let timer: number | null = null;
  const late = new Promise<TcpProbe>((resolve) => {
    timer = setTimeout(() => resolve("unknown"), timeoutMs);
  });
  try {
    const socket = connect({ hostname: url.hostname.replace(/^\[|\]$/g, ""), port: portOf(url) });
    // A socket that fails to open rejects `closed` too; that is the answer, not an error.
    socket.closed.catch(() => undefined);
    const opened = socket.opened.then(
      () => "open" as const,
      () => "failed" as const,
    );
    const result = await Promise.race([opened, late]);
    socket.close().catch(() => undefined);
    return result;
  } catch {
    return "failed";
  } finally {
    clearTimeout(timer);
  }
}

/**
 * On Cloudflare a subrequest to an origin that cannot be reached does not
 * throw: the edge answers it with one of its own 52x statuses (530 with error
 * 1016 for a name that does not resolve). A CRM behind Cloudflare answers the
 * same statuses about its own origin, with the same meaning.
 */
export function cloudflareOriginError(status: number, body: string | null): string | null {
  switch (status) {
    case 520:
      return "Cloudflare 520: the origin answered something unexpected";
    case 521:
      return "Cloudflare 521: the origin refused the connection";
    case 522:
      return "Cloudflare 522: connecting to the origin timed out";
    case 523:
      return "Cloudflare 523: the origin is unreachable";
    case 524:
      return "Cloudflare 524: the origin connected but did not answer in time";
    case 525:
      return "Cloudflare 525: TLS handshake with the origin failed";
    case 526:
      return "Cloudflare 526: the origin's TLS certificate is invalid";
    case 530:
      return body !== null && /\b1016\b|Origin DNS error/i.test(body)
        ? "Cloudflare 530/1016: DNS lookup failed for the origin"
        : "Cloudflare 530: the origin could not be reached";
    default:
      return null;
  }
}

function portOf(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === "https:" ? 443 : 80;
}

const isIpLiteral = (host: string): boolean => host.startsWith("[") || /^\d+\.\d+\.\d+\.\d+$/.test(host);
