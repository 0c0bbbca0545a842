import type { Child } from "hono/jsx";
import { withQuery } from "./format";

/**
 * A table in the wrapper that lets it scroll sideways on a narrow screen: one
 * header row (a `false` header is a column this reader does not get), then a
 * row per item. Given `empty`, no items show that instead of a bare header.
 */
export function DataTable<T>(props: { headers: readonly (string | false)[]; rows: readonly T[]; row: (item: T) => Child; empty?: Child }) {
  if (props.rows.length === 0 && props.empty !== undefined) return props.empty;
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>{props.headers.map((h) => h !== false && <th>{h}</th>)}</tr>
        </thead>
        <tbody>{props.rows.map((item) => props.row(item))}</tbody>
      </table>
    </div>
  );
}

/** The link to a listing's next page, when there is one: the same search, on from `next`. */
export const Pager = (props: { path: string; search?: Record<string, string | undefined>; next: string | null }) =>
  props.next ? (
    <p class="pager">
      <a href={withQuery(props.path, { ...props.search, cursor: props.next })}>Next page</a>
    </p>
  ) : null;
