import { maskPhone } from "../callbacks/columns";

/** One line of an inbound call's `asr_result`: who spoke, and what was heard. */
export interface Turn {
  who: "robot" | "human" | "other";
  text: string;
}

/** `asr_result` (`"Robot: …"`, `"Human: …"` lines, in the order spoken) as turns of a conversation; other lines are kept as they are. */
export function transcriptOf(payload: unknown): Turn[] {
  const lines = (payload as { asr_result?: unknown } | null)?.asr_result;
  if (!Array.isArray(lines)) return [];
  return lines
    .filter((l): l is string => typeof l === "string")
    .map((line) => {
      const m = /^\s*(Robot|Human)\s*:\s?([\s\S]*)$/i.exec(line);
      if (!m) return { who: "other" as const, text: maskDigits(line) };
      return { who: m[1]!.toLowerCase() as "robot" | "human", text: maskDigits(m[2]!) };
    });
}

export interface QaScore {
  recording: string;
  checkpoint: string;
  channel: string;
  score: string;
}

/** The `Scores` of every recording of a QA report. */
export function qaScoresOf(payload: unknown): QaScore[] {
  const details = (payload as { QADetail?: unknown } | null)?.QADetail;
  if (!Array.isArray(details)) return [];
  return details.flatMap((d: { Recordingid?: unknown; Scores?: unknown }) =>
    Array.isArray(d?.Scores)
      ? d.Scores.map((s: { CheckPointType?: unknown; Channel?: unknown; Score?: unknown }) => ({
          recording: String(d.Recordingid ?? ""),
          checkpoint: String(s?.CheckPointType ?? ""),
          channel: String(s?.Channel ?? ""),
          score: String(s?.Score ?? ""),
        }))
      : [],
  );
}

/*
 * The pages never show a full phone number: named phone fields keep their
 * last four digits, and in free text (a transcript where the caller read out
 * a number) every run of seven or more digits standing as a word of its own
 * does too. Order numbers of that
 * length are masked as well; a page is no place to read them in full.
 */
const PHONE_KEYS = /phone|caller|callee|number|mobile|msisdn/i;
// Not inside a word: a hex id (a callid, an event id) holds digit runs that are no phone number.
const DIGIT_RUN = /(?<![\w+])\+?\d[\d\s-]{5,}\d(?!\w)/g;

export function maskDigits(text: string): string {
  return text.replace(DIGIT_RUN, (run) => (run.replace(/\D/g, "").length >= 7 ? maskPhone(run)! : run));
}

/** A copy of the payload for display, with phone numbers masked. */
export function maskedForDisplay(value: unknown, key = ""): unknown {
  if (typeof value === "string") return PHONE_KEYS.test(key) && /\d{5,}/.test(value.replace(/\D/g, "")) ? maskPhone(value) : maskDigits(value);
  if (typeof value === "number") return PHONE_KEYS.test(key) && String(value).length >= 7 ? maskPhone(String(value)) : value;
  if (Array.isArray(value)) return value.map((v) => maskedForDisplay(v, key));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskedForDisplay(v, k)]));
  return value;
}

/** What happened on the call, in words, from the columns and the body. */
export function outcomeOf(type: string, state: string | null, payload: unknown): string {
  const p = (payload ?? {}) as Record<string, unknown>;
  if (type === "airudder.inbound.transfer") {
    if (state === "2") return "transferred to an agent";
    const reason = typeof p.transfer_failure_reason === "string" && p.transfer_failure_reason ? `: ${p.transfer_failure_reason}` : "";
    return `transfer status ${state ?? "unknown"}${reason}`;
  }
  if (type === "airudder.inbound.call_end") return state ? `call ended (${state})` : "call ended";
  return state ?? "—";
}
