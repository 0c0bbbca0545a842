import type { z } from "@hono/zod-openapi";
import { createBody, patchBody, type DestinationCreate, type DestinationPatch } from "../admin/destinations";
import { RelayError, type Issue } from "../http/errors";

/** A submitted form: each field's values (check boxes repeat a name). */
export type FormFields = Record<string, string | string[] | File | (string | File)[]>;

export const field = (form: FormFields, name: string): string => {
  const v = form[name];
  const first = Array.isArray(v) ? v[0] : v;
  return typeof first === "string" ? first.trim() : "";
};

const all = (form: FormFields, name: string): string[] => {
  const v = form[name];
  return (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((x): x is string => typeof x === "string");
};

function invalid(issues: Issue[]): never {
  throw new RelayError("invalid_request", "the form has mistakes", { issues });
}

function parsed<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) invalid(r.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message })));
  return r.data;
}

function json(form: FormFields, name: string): unknown {
  const text = field(form, name);
  if (text === "") return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return invalid([{ path: name, message: "is not valid JSON" }]);
  }
}

/** `Name: value` lines as a headers object; blank lines are skipped. */
function headerLines(form: FormFields, name: string): Record<string, string> | null {
  const lines = field(form, name).split(/\r?\n/).filter((l) => l.trim() !== "");
  if (lines.length === 0) return null;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const at = line.indexOf(":");
    if (at <= 0) invalid([{ path: name, message: `"${line.slice(0, 40)}" is not a Name: value line` }]);
    headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return headers;
}

/** The fields both the add and the edit form have, as the admin API would take them. */
function common(form: FormFields) {
  const types = all(form, "event_types");
  const rate = field(form, "rate_limit");
  return {
    url: field(form, "url"),
    event_types: types.length ? types : null,
    filter: json(form, "filter"),
    format: field(form, "format") || undefined,
    rate_limit: rate === "" ? null : Number(rate),
    rate_limit_period: field(form, "rate_limit_period") || undefined,
  };
}

/** The add-destination form, validated by the admin API's own schema. */
export function destinationToCreate(form: FormFields): DestinationCreate {
  const secret = field(form, "secret");
  return parsed(createBody, {
    ...common(form),
    headers: headerLines(form, "headers"),
    enabled: field(form, "start_paused") !== "on",
    ...(secret ? { secret } : {}),
  });
}

/**
 * The edit form. Header values are never shown, so an empty box keeps the
 * current headers; "remove all headers" clears them.
 */
export function destinationToPatch(form: FormFields): DestinationPatch {
  const headers = field(form, "clear_headers") === "on" ? null : (headerLines(form, "headers") ?? undefined);
  return parsed(patchBody, { ...common(form), ...(headers !== undefined ? { headers } : {}) });
}

/** `YYYY-MM-DDTHH:MM` from a datetime-local box, read as UTC (the pages show UTC), or an ISO time. */
export function utcTime(form: FormFields | Record<string, string | undefined>, name: string): number | undefined {
  const raw = typeof form[name] === "string" ? (form[name] as string).trim() : "";
  if (raw === "") return undefined;
  const ms = Date.parse(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(raw) ? raw + "Z" : raw);
  if (Number.isNaN(ms)) invalid([{ path: name, message: "is not a time" }]);
  return ms;
}
