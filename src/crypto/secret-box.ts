import type { Env } from "../env";
import { RelayError } from "../http/errors";
import { decodeBase64, encodeBase64 } from "hono/utils/encode";
import { randomBytes } from "./hash";

/**
 * AES-256-GCM for destination secrets and headers at rest. Stored form:
 * `v1.<base64 iv>.<base64 ciphertext+tag>`. `ENCRYPTION_KEY` seals; the keys
 * in `ENCRYPTION_KEY_PREVIOUS` (comma-separated) only open, so that the key
 * can be rotated without losing what the old one sealed.
 */
export type SealKeys = Pick<Env, "ENCRYPTION_KEY" | "ENCRYPTION_KEY_PREVIOUS">;

const imported = new Map<string, Promise<CryptoKey>>();

function importKey(encoded: string, name: string): Promise<CryptoKey> {
  let key = imported.get(encoded);
  if (!key) {
    const raw = decodeBase64(encoded);
    if (raw.byteLength !== 32) {
      throw new RelayError("unavailable", `${name} must be 32 bytes, base64-encoded`);
    }
    key = crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    imported.set(encoded, key);
  }
  return key;
}

function currentKey(encoded: string | undefined): Promise<CryptoKey> {
  if (!encoded) throw new RelayError("unavailable", "ENCRYPTION_KEY is not configured");
  return importKey(encoded, "ENCRYPTION_KEY");
}

const previousKeys = (keys: SealKeys) =>
  (keys.ENCRYPTION_KEY_PREVIOUS ?? "")
    .split(",")
    .map((k) => k.trim())
    .filter((k) => k !== "");

export async function seal(plaintext: string, encodedKey: string | undefined): Promise<string> {
  const key = await currentKey(encodedKey);
  const iv = randomBytes(12);
  const data = new TextEncoder().encode(plaintext);
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, data);
  return `v1.${encodeBase64(iv.buffer)}.${encodeBase64(sealed)}`;
}

/** Opens a sealed value with the current key or, failing that, a previous one; `stale` says a previous one did. */
async function openWithAnyKey(stored: string, keys: SealKeys): Promise<{ plaintext: string; stale: boolean }> {
  const [version, iv, sealed] = stored.split(".");
  if (version !== "v1" || !iv || !sealed) throw new Error("unrecognised sealed value");
  const params = { name: "AES-GCM", iv: decodeBase64(iv) };
  const data = decodeBase64(sealed);
  const candidates = [() => currentKey(keys.ENCRYPTION_KEY), ...previousKeys(keys).map((k) => () => importKey(k, "ENCRYPTION_KEY_PREVIOUS"))];
  for (const [i, candidate] of candidates.entries()) {
    const key = await candidate();
    try {
      const plain = await crypto.subtle.decrypt(params, key, data);
      return { plaintext: new TextDecoder().decode(plain), stale: i > 0 };
    } catch {
      // AES-GCM's tag refuses a wrong key: try the next one.
    }
  }
  throw new Error("cannot open sealed value: no configured ENCRYPTION_KEY or ENCRYPTION_KEY_PREVIOUS opens it");
}

export async function open(stored: string, keys: SealKeys): Promise<string> {
  return (await openWithAnyKey(stored, keys)).plaintext;
}

/**
 * Those of `values` that only a previous key opens, sealed again with
 * `ENCRYPTION_KEY` (`to`), each with the value it replaces (`from`, so that
 * the write can refuse to overwrite a change made meanwhile); values already
 * sealed with the current key, and nulls, are left out. Writers store the
 * result, so that a previous key can be retired once what it sealed has been
 * written again.
 */
export async function resealedWithCurrentKey<K extends string>(
  values: Record<K, string | null>,
  keys: SealKeys,
): Promise<Partial<Record<K, { from: string; to: string }>>> {
  const out: Partial<Record<K, { from: string; to: string }>> = {};
  for (const [name, stored] of Object.entries(values) as [K, string | null][]) {
    if (stored === null) continue;
    // A value no configured key opens is left as it is: the operator must still
    // be able to pause such a destination, or give it a new secret.
    const opened = await openWithAnyKey(stored, keys).catch(() => null);
    if (opened?.stale) out[name] = { from: stored, to: await seal(opened.plaintext, keys.ENCRYPTION_KEY) };
  }
  return out;
}
