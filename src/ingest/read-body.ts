import type { Context } from "hono";
import { RelayError } from "../http/errors";
import type { AppEnv } from "../http/app-env";

/** Deeper than any AiRudder callback; bounds the work of validating hostile JSON. */
export const MAX_JSON_DEPTH = 64;

/**
 * Reads the body without ever holding more than `maxBytes`: a declared
 * `content-length` over the limit is refused before reading, and a chunked
 * body is cut off as soon as it passes the limit.
 */
export async function readLimitedBody(c: Context<AppEnv>, maxBytes: number): Promise<Uint8Array> {
  const declared = c.req.header("content-length");
  if (declared !== undefined && Number(declared) > maxBytes) {
    throw new RelayError("payload_too_large", `body is larger than ${maxBytes} bytes`);
  }
  const stream = c.req.raw.body;
  if (!stream) return new Uint8Array(0);
  // A declared length within the limit is enforced by the runtime itself (a
  // body longer than its content-length is an error), so the native read is safe.
  if (declared !== undefined && /^\d+$/.test(declared)) {
    return new Uint8Array(await c.req.raw.arrayBuffer());
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new RelayError("payload_too_large", `body is larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** A missing content type is tolerated (AiRudder's doc promises JSON); any other non-JSON one is not. */
export function checkContentType(contentType: string | undefined): void {
  if (contentType === undefined || contentType.trim() === "") return;
  const media = contentType.split(";")[0]!.trim().toLowerCase();
  if (media === "application/json" || media.endsWith("+json")) return;
  throw new RelayError("unsupported_media_type", `content type ${media} is not JSON`);
}

function depthExceeds(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== "object" || node === null) continue;
    if (depth > limit) return true;
    for (const child of Object.values(node)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** UTF-8 text and a JSON object, or a 400 that says which of the two it is not. */
export function parseJsonObject(bytes: Uint8Array): { text: string; payload: Record<string, unknown> } {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new RelayError("invalid_json", "body is not valid UTF-8");
  }
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    throw new RelayError("invalid_json", "body is not valid JSON");
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new RelayError("invalid_json", "body must be a JSON object");
  }
  if (depthExceeds(payload, MAX_JSON_DEPTH)) {
    throw new RelayError("invalid_json", `body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return { text, payload: payload as Record<string, unknown> };
}
