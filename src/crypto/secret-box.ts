import { RelayError } from "../http/errors";
import { fromBase64, randomBytes, toBase64 } from "./hash";

/**
 * AES-256-GCM for destination secrets and headers at rest. Stored form:
 * `v1.<base64 iv>.<base64 ciphertext+tag>`; the version leaves room for key
 * rotation.
 */
const keys = new Map<string, Promise<CryptoKey>>();

function importKey(encoded: string | undefined): Promise<CryptoKey> {
  if (!encoded) {
    throw new RelayError("unavailable", "ENCRYPTION_KEY is not configured");
  }
  let key = keys.get(encoded);
  if (!key) {
    const raw = fromBase64(encoded);
    if (raw.byteLength !== 32) {
      throw new RelayError("unavailable", "ENCRYPTION_KEY must be 32 bytes, base64-encoded");
    }
    key = crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    keys.set(encoded, key);
  }
  return key;
}

export async function seal(plaintext: string, encodedKey: string | undefined): Promise<string> {
  const key = await importKey(encodedKey);
  const iv = randomBytes(12);
  const data = new TextEncoder().encode(plaintext);
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, data));
  return `v1.${toBase64(iv)}.${toBase64(sealed)}`;
}

export async function open(stored: string, encodedKey: string | undefined): Promise<string> {
  const key = await importKey(encodedKey);
  const [version, iv, sealed] = stored.split(".");
  if (version !== "v1" || !iv || !sealed) throw new Error("unrecognised sealed value");
  const data = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64(iv) },
    key,
    fromBase64(sealed),
  );
  return new TextDecoder().decode(data);
}
