import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../http/app-env";
import { RelayError } from "../http/errors";
import { errorSchema } from "./views";

/**
 * A router whose request validation failures become the house 400 with the
 * zod issues, like every other error.
 */
export function router() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new RelayError("invalid_request", "request does not match the schema", {
          issues: result.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message })),
        });
      }
    },
  });
}

export const jsonContent = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  content: { "application/json": { schema } },
  required: true,
});

export const errors = {
  400: jsonContent(errorSchema, "invalid request"),
  401: jsonContent(errorSchema, "missing or wrong admin token"),
  404: jsonContent(errorSchema, "no such resource"),
  413: jsonContent(errorSchema, "request body over 64 KiB"),
  415: jsonContent(errorSchema, "a request body that is not application/json"),
  503: jsonContent(errorSchema, "admin API not configured (no ADMIN_TOKEN)"),
};

export const security = [{ adminBearer: [] }];


export function notFound(what: string): never {
  throw new RelayError("not_found", `no such ${what}`);
}
