import { z } from "@hono/zod-openapi";
import { identity, str, usually } from "./lenient";

const checkPoint = z.looseObject({
  CheckPointType: usually(z.enum(["SOP", "Negative", "Repeat", "VoiceMail"])),
  /** VoiceMail entries may hold `""` everywhere. */
  CheckPointResultsDetail: usually(z.array(z.unknown())),
});

const qaDetail = z.looseObject({
  Recordingid: str,
  Size: str,
  Length: str,
  Words: str,
  AsrResults: usually(
    z.array(
      z.looseObject({
        Channel: usually(z.enum(["1", "2"])),
        /** Milliseconds, as strings. */
        Begin: str,
        End: str,
        Sentence: str,
        Words: str,
      }),
    ),
  ),
  CheckPoint: usually(z.array(checkPoint)),
  /** `Score` is `"n/m"`. */
  Scores: usually(z.array(z.looseObject({ CheckPointType: str, Channel: str, Score: str }))),
});

const SIGN_MESSAGE = 'must be the hex MD5 of TaskID + "airudder"';

/**
 * QA recording analysis. `Sign` is the hex MD5 of `TaskID + "airudder"`
 * (AiRudder sends lower case; upper case of the same digest is the same
 * value, so it is accepted): a fixed-suffix check that catches mangled
 * callbacks, never a substitute for the ingest token.
 */
const identityFields = z.looseObject({
  TaskID: identity,
  Sign: z
    .string({ error: (issue) => (issue.input === undefined ? "required" : SIGN_MESSAGE) })
    .regex(/^[0-9a-fA-F]{32}$/, SIGN_MESSAGE),
});

async function signMatches(report: { TaskID: string | number; Sign: string }, ctx: z.core.$RefinementCtx): Promise<void> {
  const expected = await md5Hex(String(report.TaskID) + "airudder");
  if (report.Sign.toLowerCase() !== expected) {
    ctx.addIssue({ code: "custom", path: ["Sign"], message: 'does not match MD5(TaskID + "airudder")' });
  }
}

/** What can refuse a QA report: `TaskID` and its `Sign`; ingest validates with this alone. */
export const qaIdentity = identityFields.superRefine(signMatches);

export const qaReportSchema = identityFields
  .extend({ QADetail: usually(z.array(qaDetail)) })
  .superRefine(signMatches)
  .openapi("QaReport", {
    description:
      'Identity: `TaskID`; `Sign` = hex MD5 of `TaskID + "airudder"`. Every other field is optional and any value is accepted there.',
  });

async function md5Hex(text: string): Promise<string> {
  // MD5 is one of the digests the Workers runtime adds to WebCrypto.
  const digest = await crypto.subtle.digest("MD5", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
