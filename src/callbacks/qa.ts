import { z } from "@hono/zod-openapi";
import { identity, list, scalar } from "./lenient";

const checkPoint = z.looseObject({
  CheckPointType: scalar,
  CheckPointResultsDetail: list(z.unknown()),
});

const qaDetail = z.looseObject({
  Recordingid: scalar,
  Size: scalar,
  Length: scalar,
  Words: scalar,
  AsrResults: list(
    z.looseObject({ Channel: scalar, Begin: scalar, End: scalar, Sentence: scalar, Words: scalar }),
  ),
  CheckPoint: list(checkPoint),
  Scores: list(z.looseObject({ CheckPointType: scalar, Channel: scalar, Score: scalar })),
});

/**
 * QA recording analysis. `Sign` is the lower-case hex MD5 of `TaskID +
 * "airudder"`: a fixed-suffix check that catches mangled callbacks, never a
 * substitute for the ingest token.
 */
export const qaReportSchema = z
  .looseObject({
    TaskID: identity,
    Sign: z.string().regex(/^[0-9a-fA-F]{32}$/, "must be the 32-character hex MD5 of TaskID + \"airudder\""),
    QADetail: list(qaDetail),
  })
  .superRefine(async (report, ctx) => {
    const expected = await md5Hex(String(report.TaskID) + "airudder");
    if (report.Sign.toLowerCase() !== expected) {
      ctx.addIssue({ code: "custom", path: ["Sign"], message: "does not match MD5(TaskID + \"airudder\")" });
    }
  })
  .openapi("QaReport");

async function md5Hex(text: string): Promise<string> {
  // MD5 is one of the digests the Workers runtime adds to WebCrypto.
  const digest = await crypto.subtle.digest("MD5", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

