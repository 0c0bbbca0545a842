import { z } from "@hono/zod-openapi";

/*
 * AiRudder sends `""` for "missing" far more often than null, numbers as
 * strings and strings as numbers. These field types accept every such
 * spelling: only the shape (scalar, list, object) is checked, never the value,
 * because a callback refused here is retried five times and then lost.
 */

export const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]).optional();

/** An identity field: a non-empty string (or a number, which AiRudder sometimes sends). */
export const identity = z.union([
  z.string().trim().min(1, "must not be empty"),
  z.number(),
]);

const missing = z.union([z.literal(""), z.null()]);

export const anyObject = z.looseObject({});

export const looseObject = z.union([anyObject, missing]).optional();

export const list = <T extends z.ZodType>(item: T) =>
  z.union([z.array(z.union([item, z.null()])), missing]).optional();

export const anyJson = z.unknown().optional();

/** A JSON object of any shape: the generic family and envelopes' inner bodies. */
export const jsonObject = z.record(z.string(), z.unknown());

export function text(value: unknown): string | null {
  if (typeof value === "string") return value.trim() === "" ? null : value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return null;
}
