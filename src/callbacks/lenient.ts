import { z } from "@hono/zod-openapi";

/*
 * CALLBACKS.md rule 1: only a family's identity fields may refuse a callback.
 * AiRudder sends `""` for "missing" far more often than null, numbers as
 * strings, strings as numbers and nulls where objects usually are, and a
 * callback refused here is retried five times and then lost to the CRM. So
 * every other field names the shape AiRudder usually sends (for the OpenAPI
 * document and for readers) and accepts any other JSON value as well; the
 * payload is forwarded exactly as received either way.
 */

/**
 * A field's usual shape; any other value, or none, passes too. The shape is
 * there for the OpenAPI document only: `z.unknown()` comes first, so a union
 * that stops at its first match never runs it. Run first, an array field sent
 * as a 1 MB array of something else collected one issue per element (about
 * half a second) only to be accepted anyway.
 */
export const usually = <T extends z.ZodType>(shape: T) => z.union([z.unknown(), shape]).optional();

export const str = usually(z.string());
export const int = usually(z.number().int());

/**
 * An identity field: a non-empty string (or a number, which AiRudder sends
 * for strings now and then). The value is checked, never trimmed or
 * converted, so that a `Sign` computed over it still matches.
 */
export const identity = z
  .union([z.string(), z.number()], {
    error: (issue) => (issue.input === undefined ? "required" : "must be a non-empty string"),
  })
  .refine((v) => typeof v === "number" || v.trim() !== "", "must not be empty")
  .openapi({ description: "identity field: a non-empty string (a number is accepted too)" });

/**
 * A family's schema for one payload, the schema of its identity fields alone
 * (the same object shape and refinements, without the fields that accept
 * anything), and its event type. Ingest validates with `identity`: it
 * refuses exactly what `schema` refuses, with the same issues, and skips
 * walking every other field. `schema` documents the payload and is what
 * the tests hold `identity` to.
 */
export interface Variant {
  schema: z.ZodType;
  identity: z.ZodType;
  event: string;
}

/** A JSON object of any shape: the generic family and envelopes' inner bodies. */
export const jsonObject = z.record(z.string(), z.unknown());

export function text(value: unknown): string | null {
  if (typeof value === "string") return value.trim() === "" ? null : value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return null;
}
