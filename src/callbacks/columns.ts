import { z } from "zod";
import { text } from "./lenient";

/** The searchable columns an event gets from its payload: in its row, its queue message and the admin API. */
export const eventColumnsSchema = z.object({
  callid: z.string().nullable(),
  task_id: z.string().nullable(),
  state: z.string().nullable(),
  agent: z.string().nullable(),
  phone_masked: z.string().nullable(),
  call_time: z.string().nullable(),
});
export type EventColumns = z.infer<typeof eventColumnsSchema>;

export const noColumns: EventColumns = {
  callid: null,
  task_id: null,
  state: null,
  agent: null,
  phone_masked: null,
  call_time: null,
};

/** Keeps only the last four digits: enough to recognise a call, not to dial it. */
export function maskPhone(value: unknown): string | null {
  const digits = (text(value) ?? "").replace(/\D/g, "");
  if (digits.length === 0) return null;
  return "***" + digits.slice(-4);
}

/** AiRudder's PDS `timestamp` is epoch milliseconds, usually as a string. */
export function epochMsToIso(value: unknown): string | null {
  const raw = text(value);
  if (raw === null || !/^\d{10,16}$/.test(raw)) return null;
  const ms = raw.length <= 10 ? Number(raw) * 1000 : Number(raw);
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** Inbound times are `YYYY-MM-DD HH:MM:SS` in UTC; anything else is kept as is. */
export function utcTimeToIso(value: unknown): string | null {
  const raw = text(value);
  if (raw === null) return null;
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})$/.exec(raw);
  return m ? `${m[1]}T${m[2]}Z` : raw;
}

export function field(obj: unknown, key: string): unknown {
  return typeof obj === "object" && obj !== null ? (obj as Record<string, unknown>)[key] : undefined;
}
