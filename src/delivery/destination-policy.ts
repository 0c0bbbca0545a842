import { z } from "@hono/zod-openapi";

/**
 * Where the relay may send: `https://` to public hosts only, unless insecure
 * destinations are allowed for local testing (then `http://` and loopback or
 * private hosts are fine too). Answers the reason for a refusal, or null when
 * the URL may be used.
 *
 * The host is judged as the WHATWG URL parser normalises it, which is also
 * how `fetch` will read the same string: decimal, octal, hex and short IPv4
 * spellings (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`) arrive here
 * as `127.0.0.1`, and IPv6 in its compressed hex form (`::ffff:7f00:1`).
 *
 * Any port is allowed on a public host: CRMs do listen on 8443 and the like,
 * and what a port can reach on a public host is that host's business. A name
 * that resolves to a private address (DNS rebinding) cannot be seen here
 * without resolving it; on Cloudflare a Worker's fetch does not reach private
 * networks, so the names refused are the ones that mean "inside" by
 * definition.
 */
export function refuseDestination(rawUrl: string, allowInsecure: boolean): string | null {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return "not a valid URL";
  }
  if (url.protocol !== "https:" && !(allowInsecure && url.protocol === "http:")) {
    return allowInsecure ? "only http and https URLs are allowed" : "only https URLs are allowed";
  }
  // Credentials in a URL end up in logs and the admin API, and `good.com@127.0.0.1` misleads a reader.
  if (url.username || url.password) return "URLs with user info are not allowed";
  if (allowInsecure) return null;
  return refuseHost(url.hostname);
}

function refuseHost(hostname: string): string | null {
  // A trailing dot names the same host (`localhost.` is `localhost`).
  const host = hostname.replace(/\.+$/, "");
  if (host === "") return "the URL has no host";
  if (host.startsWith("[")) return refuseIpv6(host.slice(1, -1));
  const addr = parseIpv4(host);
  if (addr !== null) {
    const what = ipv4Kind(addr);
    return what ? `${host} is ${what}` : null;
  }
  return refuseName(host);
}

/** Names that mean "this machine" or "this private network" wherever they are resolved. */
const internalNames = new Set(["localhost", "metadata", "metadata.google.internal", "instance-data"]);
const internalSuffixes = [".localhost", ".local", ".localdomain", ".internal", ".home.arpa"];

function refuseName(host: string): string | null {
  if (internalNames.has(host) || internalSuffixes.some((s) => host.endsWith(s))) {
    return `${host} is not a public host`;
  }
  // A single label resolves through the search domains of whoever looks it up: a local name.
  if (!host.includes(".")) return `${host} is not a fully qualified public host name`;
  return null;
}

function parseIpv4(host: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

const v4 = (a: number, b: number, c: number, d: number) => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

/** Special-purpose IPv4 ranges (RFC 6890 and friends) that are not the public internet. */
const ipv4Refused: ReadonlyArray<[base: number, bits: number, what: string]> = [
  [v4(0, 0, 0, 0), 8, "a \"this network\" address"],
  [v4(10, 0, 0, 0), 8, "a private address"],
  [v4(100, 64, 0, 0), 10, "a carrier-grade NAT address"],
  [v4(127, 0, 0, 0), 8, "a loopback address"],
  [v4(169, 254, 0, 0), 16, "a link-local address (cloud metadata lives here)"],
  [v4(172, 16, 0, 0), 12, "a private address"],
  [v4(192, 0, 0, 0), 24, "an IETF protocol address"],
  [v4(192, 0, 2, 0), 24, "a documentation address"],
  [v4(192, 88, 99, 0), 24, "a 6to4 relay address"],
  [v4(192, 168, 0, 0), 16, "a private address"],
  [v4(198, 18, 0, 0), 15, "a benchmarking address"],
  [v4(198, 51, 100, 0), 24, "a documentation address"],
  [v4(203, 0, 113, 0), 24, "a documentation address"],
  [v4(224, 0, 0, 0), 4, "a multicast address"],
  [v4(240, 0, 0, 0), 4, "a reserved or broadcast address"],
];

const inRange = (addr: number, base: number, bits: number) => addr >>> (32 - bits) === base >>> (32 - bits);

/** What kind of non-public address this is, or null for a public one. */
function ipv4Kind(addr: number): string | null {
  return ipv4Refused.find(([base, bits]) => inRange(addr, base, bits))?.[2] ?? null;
}

const formatIpv4 = (a: number) => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join(".");

/** The eight 16-bit groups of an address the URL parser has already validated and compressed. */
function parseIpv6(text: string): number[] {
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const groups = (s: string | undefined) => (s ? s.split(":").map((g) => parseInt(g, 16)) : []);
  const left = groups(head);
  const right = groups(tail);
  return tail === undefined ? left : [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function refuseIpv6(text: string): string | null {
  const g = parseIpv6(text);
  const embedded = (hi: number, lo: number) => ((hi << 16) | lo) >>> 0;
  const zeroes = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  const viaIpv4 = (form: string, addr: number) => {
    const what = ipv4Kind(addr);
    return what ? `[${text}] is ${form} of ${formatIpv4(addr)}, ${what}` : null;
  };

  if (zeroes(0, 8)) return `[${text}] is the unspecified address`;
  if (zeroes(0, 7) && g[7] === 1) return `[${text}] is a loopback address`;
  if (zeroes(0, 5) && g[5] === 0xffff) return viaIpv4("an IPv4-mapped address", embedded(g[6]!, g[7]!));
  if (zeroes(0, 6)) return viaIpv4("an IPv4-compatible address", embedded(g[6]!, g[7]!));
  if (g[0] === 0x64 && g[1] === 0xff9b && zeroes(2, 6)) return viaIpv4("a NAT64 address", embedded(g[6]!, g[7]!));
  if (g[0] === 0x2002) return viaIpv4("a 6to4 address", embedded(g[1]!, g[2]!));
  if (g[0] === 0x2001 && g[1] === 0) return `[${text}] is a Teredo address`;
  if (g[0] === 0x2001 && g[1] === 0xdb8) return `[${text}] is a documentation address`;
  const first = g[0]!;
  if ((first & 0xfe00) === 0xfc00) return `[${text}] is a unique local address`;
  if ((first & 0xffc0) === 0xfe80) return `[${text}] is a link-local address`;
  if ((first & 0xff00) === 0xff00) return `[${text}] is a multicast address`;
  // Everything else outside global unicast (2000::/3) is reserved, deprecated (site-local) or special.
  if ((first & 0xe000) !== 0x2000) return `[${text}] is not a public address`;
  return null;
}

/**
 * The URL as it is stored and shown: the WHATWG serialisation that `fetch`
 * will use anyway, so that the admin API shows the host that was judged
 * (`https://0x7f000001/` is stored as `https://127.0.0.1/`) and two spellings
 * of one URL read the same. Call it only on a URL `refuseDestination` passed.
 */
export function normalizeDestinationUrl(rawUrl: string): string {
  return new URL(rawUrl).href;
}

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "not a valid header name");
// fetch() refuses CR, LF and NUL in a value; stored, such a header would fail every attempt for the whole schedule.
const headerValue = z.string().max(4096).regex(/^[^\r\n\0]*$/, "header values cannot contain CR, LF or NUL");

/*
 * Headers the relay or the HTTP layer owns. The body's framing and type, the
 * Standard Webhooks signature and the target host decide what the CRM
 * verifies and which host answers; hop-by-hop headers would change how the
 * connection itself is used; the user agent says who is calling.
 */
const reservedNames = new Set(["host", "user-agent", "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"]);
const reservedPrefixes = ["content-", "webhook-", "proxy-"];

/** Whether a custom header would replace one the relay or HTTP owns; header names are case-insensitive. */
export function isReservedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return reservedNames.has(lower) || reservedPrefixes.some((p) => lower.startsWith(p));
}

/** A destination's extra request headers, as the admin API accepts them. */
export const destinationHeadersSchema = z.record(headerName, headerValue).superRefine((headers, ctx) => {
  const names = Object.keys(headers);
  if (names.length > 20) ctx.addIssue({ code: "custom", message: "at most 20 headers" });
  for (const name of names.filter(isReservedHeader)) {
    ctx.addIssue({ code: "custom", path: [name], message: `${name} is set by the relay or HTTP itself and cannot be configured` });
  }
});
