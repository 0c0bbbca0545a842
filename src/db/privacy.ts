import { ids } from "./sql";

/**
 * SQL for "the column `text` holds the needle `n.value` as a whole number":
 * not inside a longer digit run, which would be somebody else's number.
 * instr() is the cheap first pass; the GLOB checks every occurrence for a
 * non-digit on both sides (the text is padded so that one at either end
 * counts). Needles are digits, spaces, `+`, `(`, `)` and `-`, none of them
 * special to GLOB.
 */
const holdsNumber = (text: string) =>
  `instr(${text}, n.value) > 0 AND (' ' || ${text} || ' ') GLOB ('*[^0-9]' || n.value || '[^0-9]*')`;

/** Replaces every payload holding this number with a tombstone; answers the ids touched. */
export const erasePhone = (db: D1Database, tenantId: string, needles: readonly string[]) =>
  db.batch([
    db
      .prepare(
        `UPDATE events SET payload = NULL, payload_state = 'erased', phone_masked = NULL
         WHERE tenant_id = ?1 AND payload IS NOT NULL
           AND EXISTS (SELECT 1 FROM json_each(?2) n WHERE ${holdsNumber("events.payload")})
         RETURNING id`,
      )
      .bind(tenantId, ids(needles)),
    db
      .prepare(
        `DELETE FROM quarantine WHERE tenant_id = ?1
           AND EXISTS (SELECT 1 FROM json_each(?2) n WHERE ${holdsNumber("quarantine.body")})`,
      )
      .bind(tenantId, ids(needles)),
    db
      .prepare(
        `DELETE FROM inbox WHERE tenant_id = ?1
           AND EXISTS (SELECT 1 FROM json_each(?2) n WHERE ${holdsNumber("inbox.body")})`,
      )
      .bind(tenantId, ids(needles)),
  ]);
