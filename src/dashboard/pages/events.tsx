import { eventTypes } from "../../callbacks/families";
import type { AttemptRow } from "../../db/attempts";
import type { DeliveryRow } from "../../db/deliveries";
import type { DestinationRow } from "../../db/destinations";
import type { EventDetail, EventSummary } from "../../query/events";
import { DataTable, Fact, Pager, SearchForm, Select, TenantFact, TenantFilter } from "../components";
import { maskedForDisplay, outcomeOf, qaScoresOf, transcriptOf } from "../conversation";
import { localInput, Status, time } from "../format";
import { ActionButton, Csrf, Page } from "../layout";
import { mayChange, type Scope } from "../scope";

export interface EventSearch {
  callid?: string;
  phone_last4?: string;
  type?: string;
  tenant?: string;
  since?: number;
  until?: number;
}

export function EventsPage(props: { scope: Scope; search: EventSearch; rows: EventSummary[]; next: string | null }) {
  const { scope, search } = props;
  const base = `${scope.base}/events`;
  const query = {
    callid: search.callid,
    phone_last4: search.phone_last4,
    type: search.type,
    tenant: scope.kind === "operator" ? search.tenant : undefined,
    since: localInput(search.since),
    until: localInput(search.until),
  };
  return (
    <Page title="Events" scope={scope} current={base}>
      <section>
        <SearchForm action={base} submit="Search events">
          <label>
            Call id
            <input name="callid" value={search.callid ?? ""} />
          </label>
          <label>
            Phone (last 4 digits)
            <input name="phone_last4" value={search.phone_last4 ?? ""} inputmode="numeric" pattern="\d{4}" maxlength={4} size={6} />
          </label>
          <Select label="Type" name="type" choices={eventTypes} selected={search.type} anyOption />
          <TenantFilter scope={scope} value={search.tenant} />
          <label>
            From (UTC)
            <input type="datetime-local" name="since" value={localInput(search.since)} />
          </label>
          <label>
            To (UTC)
            <input type="datetime-local" name="until" value={localInput(search.until)} />
          </label>
        </SearchForm>
      </section>
      <DataTable
        headers={["Received", "Type", scope.kind === "operator" && "Tenant", "Call id", "Phone", "State"]}
        rows={props.rows}
        empty={<p>No events match.</p>}
        row={(e) => (
          <tr>
            <td>
              <a href={`${base}/${e.id}`}>{time(e.received_at)}</a>
            </td>
            <td>{e.type}</td>
            {scope.kind === "operator" && <td>{e.tenant_id}</td>}
            <td class="mono">{e.callid ?? e.task_id ?? "—"}</td>
            <td class="mono">{e.phone_masked ?? "—"}</td>
            <td>{e.state ?? "—"}</td>
          </tr>
        )}
      />
      <Pager path={base} search={query} next={props.next} />
    </Page>
  );
}

const Attempts = ({ attempts }: { attempts: AttemptRow[] }) => (
  <DataTable
    headers={["At", "Status", "Duration", "Error", "Response (excerpt)"]}
    rows={attempts}
    empty={<p class="muted">No attempt yet.</p>}
    row={(a) => (
      <tr>
        <td>{time(a.at)}</td>
        <td>{a.status_code ?? "—"}</td>
        <td>{`${a.duration_ms} ms`}</td>
        <td>{a.error ?? "—"}</td>
        <td class="mono">{a.response_body ? a.response_body.slice(0, 300) : "—"}</td>
      </tr>
    )}
  />
);

export const DeliveryCard = (props: { scope: Scope; delivery: DeliveryRow; attempts: AttemptRow[]; destinationUrl?: string }) => {
  const d = props.delivery;
  const retryable = d.status === "dead" || d.status === "failed";
  return (
    <section aria-label={`Delivery ${d.id}`}>
      <h3>
        <Status status={d.status} /> to <a href={`${props.scope.base}/destinations/${d.destination_id}`}>{props.destinationUrl ?? d.destination_id}</a>
      </h3>
      <p class="muted">
        <a href={`${props.scope.base}/deliveries/${d.id}`} class="mono">
          {d.id}
        </a>{" "}
        · {d.attempt_count} attempt(s){d.next_attempt_at && (d.status === "failed" || d.status === "pending") ? ` · next at ${time(d.next_attempt_at)}` : ""}
      </p>
      <Attempts attempts={props.attempts} />
      {retryable && mayChange(props.scope) && (
        <div class="actions">
          <ActionButton scope={props.scope} action={`${props.scope.base}/deliveries/${d.id}/retry`} label="Retry delivery" />
        </div>
      )}
    </section>
  );
};

export function EventDetailPage(props: { scope: Scope; detail: EventDetail; destinations: DestinationRow[]; notice: string | null }) {
  const { scope, detail } = props;
  const e = detail.event;
  const turns = transcriptOf(detail.payload);
  const scores = qaScoresOf(detail.payload);
  const urls = new Map(props.destinations.map((d) => [d.id, d.url]));
  return (
    <Page title={`Event ${e.id}`} scope={scope} current={`${scope.base}/events`} notice={props.notice}>
      <section>
        <dl class="facts">
          <Fact term="Family">{e.kind}</Fact>
          <Fact term="Type">{e.type}</Fact>
          <TenantFact scope={scope} tenant={e.tenant_id} />
          <Fact term="Call id" mono>
            {e.callid ?? "—"}
          </Fact>
          {e.task_id && (
            <Fact term="Task" mono>
              {e.task_id}
            </Fact>
          )}
          <Fact term="Phone" mono>
            {e.phone_masked ?? "—"}
          </Fact>
          <Fact term="Call time">{e.call_time ?? "—"}</Fact>
          <Fact term="Received">{time(e.received_at)}</Fact>
          <Fact term="Outcome">{outcomeOf(e.type, e.state, detail.payload)}</Fact>
          {e.agent && <Fact term="Agent">{e.agent}</Fact>}
          <Fact term="Payload">{e.payload_state}</Fact>
        </dl>
      </section>
      {turns.length > 0 && (
        <section>
          <h2>Conversation</h2>
          <ol class="chat" aria-label="Transcript, in the order spoken">
            {turns.map((t) => (
              <li class={t.who}>
                <span class="who">{t.who === "robot" ? "Robot" : t.who === "human" ? "Caller" : "Note"}</span>
                {t.text}
              </li>
            ))}
          </ol>
        </section>
      )}
      {scores.length > 0 && (
        <section>
          <h2>QA scores</h2>
          <DataTable
            headers={["Recording", "Check point", "Channel", "Score"]}
            rows={scores}
            row={(s) => (
              <tr>
                <td class="mono">{s.recording}</td>
                <td>{s.checkpoint}</td>
                <td>{s.channel}</td>
                <td>{s.score}</td>
              </tr>
            )}
          />
        </section>
      )}
      <section>
        <details>
          <summary>Raw payload (phone numbers masked)</summary>
          {detail.payload === null ? <p>The payload was {e.payload_state}.</p> : <pre>{JSON.stringify(maskedForDisplay(detail.payload), null, 2)}</pre>}
        </details>
      </section>
      <h2>Deliveries</h2>
      {detail.deliveries.length === 0 && <p>No delivery: no destination wanted this event.</p>}
      {detail.deliveries.map((d) => (
        <DeliveryCard scope={scope} delivery={d.delivery} attempts={d.attempts} destinationUrl={urls.get(d.delivery.destination_id)} />
      ))}
      {mayChange(scope) && detail.payload !== null && (
        <section>
          <h2>Replay</h2>
          <p class="muted">Delivers this event again under the same webhook-id.</p>
          <div class="actions">
            <ActionButton scope={scope} action={`${scope.base}/events/${e.id}/replay`} label="Replay to all destinations" />
          </div>
          {props.destinations.length > 0 && (
            <form method="post" action={`${scope.base}/events/${e.id}/replay`} class="filters">
              <Csrf scope={scope} />
              <Select label="Destination" name="destination_id" choices={props.destinations.map((d) => ({ value: d.id, label: d.url }))} />
              <button type="submit" class="secondary">
                Replay to this destination
              </button>
            </form>
          )}
        </section>
      )}
    </Page>
  );
}
