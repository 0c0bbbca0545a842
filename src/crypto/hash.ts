import { encodeBase64Url } from "hono/utils/encode";

const encoder = new TextEncoder();

export async function sha256(data: string | Uint8Array): Promise<Uint8Array> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  return toHex(await sha256(data));
}

export function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** A random, URL-safe credential with a recognisable prefix (`rit_…`, `dst_…`), without base64 padding. */
export function randomToken(prefix: string, bytes = 32): string {
  return prefix + encodeBase64Url(randomBytes(bytes).buffer).replace(/=+$/, "");
}

/** Compares two hex digests of equal length in constant time. */
export function digestsEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  if (x.byteLength !== y.byteLength) return false;
  return crypto.subtle.timingSafeEqual(x, y);
}
