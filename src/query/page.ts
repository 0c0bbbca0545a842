/** One page of a listing, and where the next one starts (null on the last page). */
export interface Page<T, P> {
  rows: T[];
  next: P | null;
}

/** A page from rows fetched with one more than asked for. */
export function pageOf<T, P>(rows: T[], limit: number, position: (row: T) => P): Page<T, P> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  return { rows: kept, next: more ? position(kept[kept.length - 1]!) : null };
}
