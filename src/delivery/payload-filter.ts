import { z } from "@hono/zod-openapi";

/*
 * A small JSON filter on the outbound event (`{id, type, tenant, received_at, data}`):
 *   {"data.transfer_status": "2"}                               equals
 *   {"data.body.State": {"$in": ["HANGUP", "TALKRESULT"]}}      operators
 *   {"$or": [{…}, {…}]}                                          any of
 * Several keys must all hold. Operators: $eq, $neq, $in, $exists, $gte, $lte.
 */

const literal = z.union([z.string(), z.number(), z.boolean(), z.null()]);

const operators = z
  .strictObject({
    $eq: literal.optional(),
    $neq: literal.optional(),
    $in: z.array(literal).min(1).max(100).optional(),
    $exists: z.boolean().optional(),
    $gte: z.union([z.number(), z.string()]).optional(),
    $lte: z.union([z.number(), z.string()]).optional(),
  })
  .refine((o) => Object.keys(o).length > 0, "an operator object needs at least one operator");

const condition = z.union([literal, operators]);

export type PayloadFilter = { $or?: PayloadFilter[] } & { [path: string]: z.infer<typeof condition> | PayloadFilter[] | undefined };

const pathKey = z.string().regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, "a dotted path such as data.body.State");

export const payloadFilterSchema: z.ZodType<PayloadFilter> = z
  .lazy(() =>
    z
      .record(z.string(), z.unknown())
      .superRefine((obj, ctx) => {
        const keys = Object.keys(obj);
        if (keys.length === 0) ctx.addIssue({ code: "custom", message: "a filter needs at least one condition" });
        if (keys.length > 50) ctx.addIssue({ code: "custom", message: "at most 50 conditions" });
        for (const key of keys) {
          const value = obj[key];
          if (key === "$or") {
            const r = z.array(payloadFilterSchema).min(1).max(20).safeParse(value);
            if (!r.success) for (const i of r.error.issues) ctx.addIssue({ ...i, path: ["$or", ...i.path] } as never);
            continue;
          }
          if (key.startsWith("$")) {
            ctx.addIssue({ code: "custom", path: [key], message: "unknown operator at top level (only $or)" });
            continue;
          }
          if (!pathKey.safeParse(key).success) {
            ctx.addIssue({ code: "custom", path: [key], message: "not a dotted path such as data.body.State" });
            continue;
          }
          const r = condition.safeParse(value);
          if (!r.success) ctx.addIssue({ code: "custom", path: [key], message: "expected a value or an operator object ($eq, $neq, $in, $exists, $gte, $lte)" });
        }
      }),
  )
  .openapi("PayloadFilter", { type: "object", description: "dotted paths to values or operator objects; $or for alternatives" }) as never;

function valueAt(doc: unknown, path: string): unknown {
  let node: unknown = doc;
  for (const part of path.split(".")) {
    if (typeof node !== "object" || node === null || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

const DECIMAL = /^\s*-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/;

function asNumber(v: unknown): number {
  if (typeof v === "number") return v;
  return typeof v === "string" && DECIMAL.test(v) ? Number(v) : NaN;
}

/** Numbers and numeric strings compare as numbers (AiRudder mixes them); other strings as text. */
function compare(a: unknown, b: number | string): number | null {
  const na = asNumber(a);
  const nb = asNumber(b);
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  return null;
}

/** Equality with the same tolerance: `"2"` (as AiRudder often sends it) equals `2`. */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === typeof b || (typeof a !== "number" && typeof b !== "number")) return false;
  const na = asNumber(a);
  return !Number.isNaN(na) && na === asNumber(b);
}

function holds(value: unknown, cond: unknown): boolean {
  if (typeof cond !== "object" || cond === null) return same(value, cond);
  const ops = cond as Record<string, unknown>;
  if ("$eq" in ops && !same(value, ops.$eq)) return false;
  if ("$neq" in ops && same(value, ops.$neq)) return false;
  if ("$in" in ops && !(ops.$in as unknown[]).some((v) => same(value, v))) return false;
  if ("$exists" in ops && (value !== undefined) !== ops.$exists) return false;
  if ("$gte" in ops) {
    const c = compare(value, ops.$gte as number | string);
    if (c === null || c < 0) return false;
  }
  if ("$lte" in ops) {
    const c = compare(value, ops.$lte as number | string);
    if (c === null || c > 0) return false;
  }
  return true;
}

export function matchesFilter(filter: PayloadFilter, doc: unknown): boolean {
  for (const [key, cond] of Object.entries(filter)) {
    if (key === "$or") {
      if (!(cond as PayloadFilter[]).some((f) => matchesFilter(f, doc))) return false;
    } else if (!holds(valueAt(doc, key), cond)) {
      return false;
    }
  }
  return true;
}
