import { houseBodyLimit } from "../http/body-limit";

/**
 * The largest admin request body. The biggest legitimate one is a destination
 * with 20 headers of 4 KiB each and a filter, well under this; the limit stops
 * a caller with the admin token from making the Worker parse megabytes.
 */
export const ADMIN_MAX_BODY_BYTES = 64 * 1024;

export const adminBodyLimit = houseBodyLimit(ADMIN_MAX_BODY_BYTES, "an admin request body is");
