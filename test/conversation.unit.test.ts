import { describe, expect, it } from "vitest";
import { maskDigits, maskedForDisplay } from "../src/dashboard/conversation";

describe("masking numbers for display", () => {
  it("masks a number read out in a transcript, in any spelling, keeping its last four digits", () => {
    expect(maskDigits("Human: My number is 0812345678")).toBe("Human: My number is ***5678");
    expect(maskDigits("call me on +66 81 234 5678 please")).not.toContain("81 234");
    expect(maskDigits("call me on +66 81 234 5678 please")).toContain("5678");
  });

  it("leaves digit runs inside ids alone: a hex callid is no phone number", () => {
    const callid = "3e7f8023fb56030011311b28cb78c215";
    expect(maskDigits(callid)).toBe(callid);
    expect(maskedForDisplay({ callid, caller_number: "0812345678" })).toEqual({ callid, caller_number: "***5678" });
  });

  it("leaves short numbers alone", () => {
    expect(maskDigits("press 1234 then 56")).toBe("press 1234 then 56");
  });
});
