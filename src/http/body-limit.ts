import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "./app-env";
import { RelayError } from "./errors";

/**
 * hono/body-limit, answered with the house 413. A declared `content-length`
 * over the limit is refused before a byte is read (a body longer than it
 * declares is the runtime's error); a body without one is counted as it
 * streams in and cut off at the limit.
 */
export function houseBodyLimit(maxSize: number, what: string): MiddlewareHandler<AppEnv> {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new RelayError("payload_too_large", `${what} larger than ${maxSize} bytes`);
    },
  });
}
