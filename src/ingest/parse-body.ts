import { RelayError } from "../http/errors";

/** Deeper than any AiRudder callback; bounds the work of validating hostile JSON. */
export const MAX_JSON_DEPTH = 64;

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

export interface CallbackBody {
  /** The body as received, less a leading UTF-8 byte order mark: what is stored, forwarded and hashed into the event id. */
  text: string;
  payload: Record<string, unknown>;
}

// One decoder for every request: decode() without { stream } starts afresh on each call.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * The bytes read are decoded once and parsed once; everything after works on
 * the text and the parsed object. UTF-8 text and a JSON object, or a 400 that
 * says which of the two it is not.
 */
export function parseCallbackBody(bytes: Uint8Array): CallbackBody {
  let text: string;
  try {
    text = utf8.decode(bytes);
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
