/** Helpers shared by the SQL modules. Times everywhere are epoch milliseconds. */

/** A list bound as one JSON parameter and read back with `json_each`, so that a statement takes any number of ids. */
export const ids = (values: readonly string[]) => JSON.stringify(values);

/**
 * A WHERE clause of only the filters given, with numbered parameters, so that
 * SQLite can pick the index a filter needs (`?n IS NULL OR …` terms defeat
 * every index). SQL text comes from this module, never from a request; a term
 * without placeholders is included when its value is given.
 */
export function where(terms: readonly [sql: string, value: unknown][]): { sql: string; values: unknown[] } {
  const given = terms.filter(([, v]) => v !== undefined && v !== null);
  const values: unknown[] = [];
  const parts = given.map(([sql, v]) => {
    const numbered = sql.replace(/\?(\d)/g, (_, n: string) => `?${values.length + Number(n)}`);
    if (/\?\d/.test(sql)) values.push(...(Array.isArray(v) ? v : [v]));
    return numbered;
  });
  return { sql: parts.length ? "WHERE " + parts.join(" AND ") : "", values };
}
