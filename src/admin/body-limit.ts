import { bodyLimit } from "hono/body-limit";
import { RelayError } from "../http/errors";

/**
 * The largest admin request body. The biggest legitimate one is a destination
 * with 20 headers of 4 KiB each and a filter, well under this; the limit stops
 * a caller with the admin token from making the Worker parse megabytes.
 */
export const ADMIN_MAX_BODY_BYTES = 64 * 1024;

export const adminBodyLimit = bodyLimit({
  maxSize: ADMIN_MAX_BODY_BYTES,
  onError: () => {
    throw new RelayError("payload_too_large", `admin request bodies are limited to ${ADMIN_MAX_BODY_BYTES} bytes`);
  },
});
