import type { z } from "@hono/zod-openapi";
import { familyFor, type Family, type UrlKind } from "../callbacks/families";
import type { Issue } from "../http/errors";

export type Validation =
  | { ok: true; family: Family; eventType: string }
  | { ok: false; family: Family; issues: Issue[] };

function toIssues(error: z.ZodError): Issue[] {
  return error.issues.slice(0, 50).map((i) => ({
    path: i.path.map(String).join("."),
    message: i.message,
  }));
}

/**
 * Checks a parsed callback against its family's identity fields, which are
 * all that can refuse one (src/callbacks/lenient.ts); used by ingest and
 * quarantine replay.
 */
export async function validateCallback(kind: UrlKind, payload: Record<string, unknown>): Promise<Validation> {
  const family = familyFor(kind, payload);
  const { identity, event } = family.variant(payload);
  const result = await identity.safeParseAsync(payload);
  return result.success
    ? { ok: true, family, eventType: event }
    : { ok: false, family, issues: toIssues(result.error) };
}
