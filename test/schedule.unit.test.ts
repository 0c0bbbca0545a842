import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { JITTER, MAX_RETRY_AFTER_SECONDS, jittered, nextAttemptAt, parseRetryAfter } from "../src/delivery/schedule";

// A whole second, so that HTTP dates (which have second resolution) land exactly.
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const DEFAULT_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000];

/** `random` as it is drawn: anything in [0, 1). */
const draw = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

describe("jitter", () => {
  it("stays within ±20 % of the scheduled wait for any draw", () => {
    fc.assert(
      fc.property(fc.constantFrom(...DEFAULT_SCHEDULE), draw, (base, r) => {
        const wait = jittered(base, () => r);
        expect(wait).toBeGreaterThanOrEqual(base * 0.8);
        expect(wait).toBeLessThanOrEqual(base * 1.2);
      }),
      { numRuns: 2000 },
    );
  });

  it("uses the whole ±20 % band, from its bottom to its top", () => {
    expect(JITTER).toBe(0.2);
    expect(jittered(100, () => 0)).toBeCloseTo(80, 9);
    expect(jittered(100, () => 0.5)).toBeCloseTo(100, 9);
    expect(jittered(100, () => 1 - Number.EPSILON)).toBeCloseTo(120, 9);

    // Drawn for real: many waits spread over both halves of the band, never outside it.
    const waits = Array.from({ length: 5000 }, () => jittered(300));
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(240);
    expect(Math.max(...waits)).toBeLessThanOrEqual(360);
    expect(waits.filter((w) => w < 270).length).toBeGreaterThan(500);
    expect(waits.filter((w) => w > 330).length).toBeGreaterThan(500);
  });

  it("applies to the time of the next attempt, in milliseconds from now", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: DEFAULT_SCHEDULE.length - 1 }), draw, (step, r) => {
        const at = nextAttemptAt(DEFAULT_SCHEDULE, step, NOW, null, () => r);
        const base = DEFAULT_SCHEDULE[step]! * 1000;
        expect(at).not.toBeNull();
        expect(at! - NOW).toBeGreaterThanOrEqual(Math.floor(base * 0.8));
        expect(at! - NOW).toBeLessThanOrEqual(Math.ceil(base * 1.2));
      }),
      { numRuns: 1000 },
    );
  });
});

describe("the end of the schedule", () => {
  it("answers null once every retry of the schedule is spent", () => {
    expect(nextAttemptAt([5, 300], 0, NOW, null)).not.toBeNull();
    expect(nextAttemptAt([5, 300], 1, NOW, null)).not.toBeNull();
    expect(nextAttemptAt([5, 300], 2, NOW, null)).toBeNull();
    expect(nextAttemptAt([5, 300], 7, NOW, null)).toBeNull();
  });

  it("allows 1 + N attempts for a schedule of N waits", () => {
    for (const schedule of [[1], [1, 1], DEFAULT_SCHEDULE]) {
      let attempts = 1;
      for (let step = 0; nextAttemptAt(schedule, step, NOW, null) !== null; step++) attempts++;
      expect(attempts).toBe(1 + schedule.length);
    }
  });

  it("a Retry-After does not extend a spent schedule", () => {
    expect(nextAttemptAt([5], 1, NOW, 120)).toBeNull();
  });
});

describe("Retry-After", () => {
  it("reads delta-seconds", () => {
    expect(parseRetryAfter("120", NOW)).toBe(120);
    expect(parseRetryAfter(" 7 ", NOW)).toBe(7);
    expect(parseRetryAfter("0", NOW)).toBe(0);
  });

  it("reads an HTTP date as the seconds from now until then, in each of its three forms", () => {
    expect(parseRetryAfter(new Date(NOW + 90_000).toUTCString(), NOW)).toBe(90);
    expect(parseRetryAfter("Thu, 15 Jan 2026 12:02:00 GMT", NOW)).toBe(120);
    expect(parseRetryAfter("Thursday, 15-Jan-26 12:01:00 GMT", NOW)).toBe(60);
    expect(parseRetryAfter("Thu Jan 15 12:00:30 2026", NOW)).toBe(30);
  });

  it("treats a date in the past as no wait at all", () => {
    expect(parseRetryAfter(new Date(NOW - 3_600_000).toUTCString(), NOW)).toBe(0);
  });

  it("is capped at 24 hours, as seconds and as a date", () => {
    expect(MAX_RETRY_AFTER_SECONDS).toBe(86_400);
    expect(parseRetryAfter("259200", NOW)).toBe(86_400);
    expect(parseRetryAfter("86401", NOW)).toBe(86_400);
    expect(parseRetryAfter("86399", NOW)).toBe(86_399);
    expect(parseRetryAfter(new Date(NOW + 3 * 86_400_000).toUTCString(), NOW)).toBe(86_400);
    expect(parseRetryAfter("99999999999999999999999", NOW)).toBe(86_400);
  });

  it("answers null when absent or unreadable", () => {
    for (const garbage of [null, "", "   ", "soon", "-5", "1.5", "12abc", "1e3", "0x10", "Infinity", "2 days", "tomorrow"]) {
      expect(parseRetryAfter(garbage, NOW), JSON.stringify(garbage)).toBeNull();
    }
  });

  it("waits at least the Retry-After, and at least the jittered schedule", () => {
    expect(nextAttemptAt([5], 0, NOW, 120, () => 0.99)).toBe(NOW + 120_000);
    expect(nextAttemptAt([300], 0, NOW, 10, () => 0)).toBe(NOW + 240_000);
    expect(nextAttemptAt([5], 0, NOW, MAX_RETRY_AFTER_SECONDS, () => 0.5)).toBe(NOW + 86_400_000);
  });
});
