import type { Child } from "hono/jsx";
import { withQuery } from "./format";
import type { Scope } from "./scope";

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

/** A listing's search form: a GET to the listing itself, so that a search can be linked to and paged. */
export const SearchForm = (props: { action: string; submit: string; children: Child }) => (
  <form method="get" action={props.action} class="filters" role="search">
    {props.children}
    <button type="submit">{props.submit}</button>
  </form>
);

/** An option given as a bare string is its own label. */
type Choice = string | { value: string; label: string };

/** A labelled drop-down. `anyOption` puts an empty first choice, for a search filter that may be left unset. */
export const Select = (props: { label: string; name: string; choices: readonly Choice[]; selected?: string; anyOption?: boolean }) => (
  <label>
    {props.label}
    <select name={props.name}>
      {props.anyOption && <option value="">any</option>}
      {props.choices.map((choice) => {
        const { value, label } = typeof choice === "string" ? { value: choice, label: choice } : choice;
        return (
          <option value={value} selected={value === props.selected}>
            {label}
          </option>
        );
      })}
    </select>
  </label>
);

/** The tenant box of a search form: only the operator sees every tenant; a portal is one tenant's already. */
export const TenantFilter = (props: { scope: Scope; value: string | undefined }) =>
  props.scope.kind === "operator" ? (
    <label>
      Tenant
      <input name="tenant" value={props.value ?? ""} />
    </label>
  ) : null;

/** One term and its value in a facts list (`<dl class="facts">`); `mono` for ids, URLs and other text read character by character. */
export const Fact = (props: { term: string; mono?: boolean; children: Child }) => (
  <>
    <dt>{props.term}</dt>
    <dd class={props.mono ? "mono" : undefined}>{props.children}</dd>
  </>
);

/** The tenant something belongs to, linked to the tenant's page: a fact only the operator is shown. */
export const TenantFact = (props: { scope: Scope; tenant: string }) =>
  props.scope.kind === "operator" ? (
    <Fact term="Tenant">
      <a href={`/admin/tenants/${props.tenant}`}>{props.tenant}</a>
    </Fact>
  ) : null;

/** A destination, shown by its URL, linked to its page. */
export const DestinationLink = (props: { scope: Scope; destination: { id: string; url: string } }) => (
  <a href={`${props.scope.base}/destinations/${props.destination.id}`} class="mono">
    {props.destination.url}
  </a>
);

/** An event, shown by its id, linked to its page. */
export const EventLink = (props: { scope: Scope; id: string }) => (
  <a href={`${props.scope.base}/events/${props.id}`} class="mono">
    {props.id}
  </a>
);
