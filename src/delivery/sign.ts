import { decodeBase64, encodeBase64 } from "hono/utils/encode";
import { randomBytes } from "../crypto/hash";

const SECRET_PREFIX = "whsec_";

/** A new Standard Webhooks signing secret: `whsec_` + base64 of 24 random bytes (as Svix issues them). */
export function newSigningSecret(): string {
  return SECRET_PREFIX + encodeBase64(randomBytes(24).buffer);
}

export function isSigningSecret(secret: string): boolean {
  if (!secret.startsWith(SECRET_PREFIX)) return false;
  try {
    return decodeBase64(secret.slice(SECRET_PREFIX.length)).byteLength >= 16;
  } catch {
    return false;
  }
}

const keys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey(
      "raw",
      decodeBase64(secret.slice(SECRET_PREFIX.length)),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    if (keys.size > 1000) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

/*
 * Signing stays on WebCrypto rather than the `standardwebhooks` library: its
 * `sign` hashes with fast-sha256, SHA-256 written in JavaScript and run
 * synchronously on the request's thread, where WebCrypto's HMAC is native
 * and keeps its imported key per secret (above). `npm run bench:sign`
 * measures the library at about 3.2 times the CPU in workerd on a 10 KB
 * envelope (62 against 19.5 µs). The library stays the judge: every
 * signature the tests check is verified with it (test/delivery, test/core,
 * test/key-rotation, test/alerts) and so is the receiver's.
 */

/**
 * `webhook-signature` per Standard Webhooks: `v1,<base64 HMAC-SHA256>` of
 * `<id>.<timestamp>.<body>` for each secret, space-separated, so that a
 * receiver holding either the old or the new secret accepts the message while
 * a rotation is in its grace period.
 */
export async function signatureHeader(
  secrets: readonly string[],
  msgId: string,
  timestamp: number,
  body: string,
): Promise<string> {
  const content = new TextEncoder().encode(`${msgId}.${timestamp}.${body}`);
  const signatures = await Promise.all(
    secrets.map(async (s) => "v1," + encodeBase64(await crypto.subtle.sign("HMAC", await hmacKey(s), content))),
  );
  return signatures.join(" ");
}
