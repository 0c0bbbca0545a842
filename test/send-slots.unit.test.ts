import { describe, expect, it } from "vitest";
import { SendSlots, SLOT_LATE_MS } from "../src/delivery/attempt-claimed";

/* A rate-limited destination's turn holds reserved send slots; a request built late must not use a slot long past. */

describe("reserved send slots", () => {
  const interval = 270;
  const slots = () => new SendSlots(10_000, 3, interval, 10_000 + 3 * interval);

  it("hands out the reserved slots in order, then none", () => {
    const s = slots();
    expect([s.take(9_000), s.take(9_000), s.take(9_000), s.take(9_000)]).toEqual([10_000, 10_270, 10_540, null]);
  });

  it(`lets a send ${SLOT_LATE_MS} ms late still use its slot`, () => {
    expect(slots().take(10_000 + SLOT_LATE_MS)).toBe(10_000);
  });

  it(`gives a send more than ${SLOT_LATE_MS} ms past its slot the next slot instead, and spends the missed one`, () => {
    const s = slots();
    expect(s.take(10_000 + SLOT_LATE_MS + 1)).toBe(10_270);
    expect(s.take(10_000 + SLOT_LATE_MS + 1)).toBe(10_540);
    expect(s.take(10_000 + SLOT_LATE_MS + 1)).toBeNull();
  });

  it("has nothing for a send later than every slot: the turn ends and waits for the next free time", () => {
    const s = slots();
    expect(s.take(10_540 + SLOT_LATE_MS + 1)).toBeNull();
    expect(s.nextFreeAt).toBe(10_810);
  });
});
