/** ±20 % around each scheduled wait, so that retries after an outage do not arrive in lockstep. */
export const JITTER = 0.2;

/** The longest wait a `Retry-After` may impose. */
export const MAX_RETRY_AFTER_SECONDS = 24 * 3600;

export function jittered(seconds: number, random: () => number = Math.random): number {
  return seconds * (1 - JITTER + 2 * JITTER * random());
}

/**
 * The three HTTP-date forms of RFC 9110 §5.6.7 (IMF-fixdate, RFC 850,
 * asctime). Checked before `Date.parse`, which reads almost anything
 * ("1.5", "-5") as some date.
 */
const HTTP_DATE =
  /^(?:[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4})$/;

/**
 * `Retry-After` as delta-seconds or an HTTP date, in seconds from `now`;
 * null when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null || value.trim() === "") return null;
  const trimmed = value.trim();
  let seconds: number;
  if (/^\d+$/.test(trimmed)) {
    seconds = Number(trimmed);
  } else {
    if (!HTTP_DATE.test(trimmed)) return null;
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return null;
    seconds = Math.max(0, (at - now) / 1000);
  }
  return Math.min(seconds, MAX_RETRY_AFTER_SECONDS);
}

/**
 * When to try a failed delivery again, or null when its schedule is used up
 * (the delivery is then dead). `step` is the number of retries already spent.
 */
export function nextAttemptAt(
  schedule: readonly number[],
  step: number,
  now: number,
  retryAfterSeconds: number | null,
  random: () => number = Math.random,
): number | null {
  const base = schedule[step];
  if (base === undefined) return null;
  const wait = Math.max(jittered(base, random), retryAfterSeconds ?? 0);
  return now + Math.round(wait * 1000);
}
