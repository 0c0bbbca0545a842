import { z } from "@hono/zod-openapi";
import { RelayError } from "../http/errors";
import { pageOf, type Page } from "../query/page";

export const listQuery = {
  limit: z.coerce.number().int().min(1).max(500).default(50).openapi({ description: "page size (1–500)" }),
  cursor: z.string().optional().openapi({ description: "`next_cursor` of the previous page" }),
};

export function encodeCursor(position: object): string {
  return btoa(JSON.stringify(position)).replace(/=+$/, "");
}

export function decodeCursor<T extends z.ZodType>(cursor: string | undefined, schema: T): z.infer<T> | null {
  if (!cursor) return null;
  try {
    return schema.parse(JSON.parse(atob(cursor)));
  } catch {
    throw new RelayError("invalid_request", "cursor is not one this API issued");
  }
}

/** `{data, next_cursor}` from a page fetched with one row more than asked for. */
export const page = <T, V>(rows: T[], limit: number, view: (row: T) => V, position: (row: T) => object) =>
  pageBody(pageOf(rows, limit, position), view);

/** The API's `{data, next_cursor}` of a query-layer page. */
export function pageBody<T, V>(p: Page<T, object>, view: (row: T) => V) {
  return { data: p.rows.map(view), next_cursor: p.next ? encodeCursor(p.next) : null };
}

export const pageSchema = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), next_cursor: z.string().nullable() });

export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** `since`/`until` as ISO 8601 or epoch milliseconds. */
export const timeParam = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v === "") return undefined;
    const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: "custom", message: "must be an ISO 8601 time or epoch milliseconds" });
      return z.NEVER;
    }
    return ms;
  })
  .openapi({ type: "string", description: "ISO 8601 time or epoch milliseconds" });
