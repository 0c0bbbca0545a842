import type { AttemptRow } from "../../db/attempts";
import type { DeliveryRow } from "../../db/deliveries";
import { deliveryStatuses } from "../../db/deliveries";
import type { DestinationRow } from "../../db/destinations";
import { DataTable, EventLink, Pager, SearchForm, Select, TenantFilter } from "../components";
import { Status, time } from "../format";
import { ActionButton, Csrf, Page } from "../layout";
import { mayChange, type Scope } from "../scope";
import { DeliveryCard } from "./events";

export interface DeliverySearch {
  status?: string;
  destination?: string;
  tenant?: string;
}

/** The bulk "recover since" form of one destination. */
export const RecoverForm = (props: { scope: Scope; destinationId: string }) => (
  <form method="post" action={`${props.scope.base}/destinations/${props.destinationId}/recover`} class="filters">
    <Csrf scope={props.scope} />
    <label>
      Failed and dead since (UTC)
      <input type="datetime-local" name="since" required />
    </label>
    <button type="submit" class="secondary">
      Recover deliveries since then
    </button>
  </form>
);

export function DeliveriesPage(props: {
  scope: Scope;
  search: DeliverySearch;
  rows: DeliveryRow[];
  last: Map<string, AttemptRow>;
  destinations: DestinationRow[];
  next: string | null;
  notice: string | null;
}) {
  const { scope, search } = props;
  const base = `${scope.base}/deliveries`;
  const urls = new Map(props.destinations.map((d) => [d.id, d.url]));
  return (
    <Page title="Deliveries" scope={scope} current={base} notice={props.notice}>
      <section>
        <SearchForm action={base} submit="Filter deliveries">
          <Select label="Status" name="status" choices={deliveryStatuses} selected={search.status} anyOption />
          <label>
            Destination id
            <input name="destination" value={search.destination ?? ""} />
          </label>
          <TenantFilter scope={scope} value={search.tenant} />
        </SearchForm>
        {search.destination && mayChange(scope) && <RecoverForm scope={scope} destinationId={search.destination} />}
      </section>
      <DataTable
        headers={["Created", "Status", "Event", "Destination", "Attempts", "Last error", "Action"]}
        rows={props.rows}
        empty={<p>No deliveries match.</p>}
        row={(d) => {
          const last = props.last.get(d.id);
          return (
            <tr>
              <td>
                <a href={`${base}/${d.id}`}>{time(d.created_at)}</a>
              </td>
              <td>
                <Status status={d.status} />
              </td>
              <td>
                <EventLink scope={scope} id={d.event_id} />
              </td>
              <td class="mono">{urls.get(d.destination_id) ?? d.destination_id}</td>
              <td>{d.attempt_count}</td>
              <td>{last ? (last.error ?? (last.status_code && (last.status_code < 200 || last.status_code >= 300) ? `HTTP ${last.status_code}` : "—")) : "—"}</td>
              <td>
                {(d.status === "dead" || d.status === "failed") && mayChange(scope) ? (
                  <ActionButton scope={scope} action={`${base}/${d.id}/retry`} label="Retry" kind="secondary" />
                ) : (
                  "—"
                )}
              </td>
            </tr>
          );
        }}
      />
      <Pager path={base} search={{ status: search.status, destination: search.destination, tenant: scope.kind === "operator" ? search.tenant : undefined }} next={props.next} />
    </Page>
  );
}

export const DeliveryPage = (props: { scope: Scope; delivery: DeliveryRow; attempts: AttemptRow[]; destinationUrl?: string; notice: string | null }) => (
  <Page title={`Delivery ${props.delivery.id}`} scope={props.scope} current={`${props.scope.base}/deliveries`} notice={props.notice}>
    <p>
      Of event <EventLink scope={props.scope} id={props.delivery.event_id} />
    </p>
    <DeliveryCard scope={props.scope} delivery={props.delivery} attempts={props.attempts} destinationUrl={props.destinationUrl} />
  </Page>
);
