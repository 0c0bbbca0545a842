import { cloudflareOriginError, describeNetworkError, needsProbe, probeTcp } from "./network-error";

/** What one HTTP attempt came to. */
export interface AttemptResult {
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  responseBody: string | null;
  retryAfter: string | null;
}

/** How much of a destination's answer is kept with the attempt, for the operator. */
export const RESPONSE_BODY_KEEP_BYTES = 4096;

async function readHead(response: Response, maxBytes: number): Promise<string | null> {
  if (!response.body) return null;
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const bytes = new Uint8Array(Math.min(total, maxBytes));
  let offset = 0;
  for (const chunk of chunks) {
    const take = chunk.subarray(0, bytes.byteLength - offset);
    bytes.set(take, offset);
    offset += take.byteLength;
    if (offset >= bytes.byteLength) break;
  }
  return new TextDecoder().decode(bytes);
}

/**
 * POSTs once, never following redirects (a redirect could point inside a
 * private network) and never waiting longer than `timeoutMs` for the answer
 * and the head of its body. A network error or timeout is a result, not an
 * exception, and its `error` says what happened (see network-error.ts).
 */
export async function postOnce(
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<AttemptResult> {
  const started = Date.now();
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetch(url, { method: "POST", headers, body, redirect: "manual", signal });
    const responseBody = await readHead(response, RESPONSE_BODY_KEEP_BYTES).catch(() => null);
    return {
      statusCode: response.status,
      durationMs: Date.now() - started,
      error: cloudflareOriginError(response.status, responseBody),
      responseBody,
      retryAfter: response.headers.get("retry-after"),
    };
  } catch (err) {
    const durationMs = Date.now() - started;
    return {
      statusCode: null,
      durationMs,
      error: signal.aborted ? `timed out after ${timeoutMs} ms` : await explain(url, err, timeoutMs - durationMs),
      responseBody: null,
      retryAfter: null,
    };
  }
}

/** The cause of a fetch that threw, probing the destination within the attempt's remaining time. */
async function explain(url: string, err: unknown, remainingMs: number): Promise<string> {
  const message = err instanceof Error ? err.message : String(err);
  const target = new URL(url);
  const probe = needsProbe(message) ? await probeTcp(target, remainingMs) : "unknown";
  return describeNetworkError(message, target, probe);
}
