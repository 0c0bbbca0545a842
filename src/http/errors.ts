import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "./app-env";

/** Every machine code an error answer can carry, with its HTTP status. */
export const errorStatus = {
  invalid_json: 400,
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  unknown_kind: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  invalid_payload: 422,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
  admin_not_configured: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof errorStatus;

export interface Issue {
  path: string;
  message: string;
}

export class RelayError extends Error {
  readonly status: ContentfulStatusCode;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: { issues?: Issue[]; retryAfterSeconds?: number } = {},
  ) {
    super(message);
    this.status = errorStatus[code];
  }
}

function errorBody(c: Context<AppEnv>, err: RelayError) {
  return {
    ok: false as const,
    error: {
      code: err.code,
      message: err.message,
      request_id: c.get("requestId"),
      ...(err.extra.issues ? { issues: err.extra.issues } : {}),
    },
  };
}

export function errorResponse(c: Context<AppEnv>, err: RelayError): Response {
  if (err.extra.retryAfterSeconds !== undefined) {
    c.header("retry-after", String(err.extra.retryAfterSeconds));
  }
  return c.json(errorBody(c, err), err.status);
}

function fromHttpException(err: HTTPException): RelayError {
  if (err.status === 413) return new RelayError("payload_too_large", "request body is too large");
  if (err.status === 401) return new RelayError("unauthorized", "missing or invalid credentials");
  if (err.status === 403) return new RelayError("forbidden", "this request was refused (a form from another site, or a stale page)");
  if (err.status === 404) return new RelayError("not_found", "no such resource");
  if (err.status === 415) return new RelayError("unsupported_media_type", "the request body must be application/json");
  if (err.status >= 500) return new RelayError("internal", "internal error");
  return new RelayError("invalid_request", err.message || "invalid request");
}

/**
 * The one place an exception becomes an answer: known errors keep their code,
 * anything else is a 500 in the house shape, with no stack trace, logged by
 * request id so that an operator can find it.
 */
export const onError: ErrorHandler<AppEnv> = (err, c) => {
  if (err instanceof RelayError) return errorResponse(c, err);
  if (err instanceof HTTPException) return errorResponse(c, fromHttpException(err));
  console.error(
    JSON.stringify({
      level: "error",
      msg: "unhandled error",
      request_id: c.get("requestId"),
      error: err instanceof Error ? err.name + ": " + err.message : "unknown",
    }),
  );
  return errorResponse(c, new RelayError("internal", "internal error"));
};

/** For hono/method-not-allowed: a known path asked with a method it does not serve. */
export function onMethodNotAllowed(c: Context<AppEnv>, allowed: string[]): Response {
  c.header("allow", allowed.join(", "));
  return errorResponse(c, new RelayError("method_not_allowed", `${c.req.method} is not allowed on ${c.req.path}; allowed: ${allowed.join(", ")}`));
}

export const onNotFound: NotFoundHandler<AppEnv> = (c) =>
  errorResponse(c, new RelayError("not_found", `no route for ${c.req.method} ${c.req.path}`));
