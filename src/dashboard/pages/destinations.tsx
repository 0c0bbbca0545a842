import { eventTypes } from "../../callbacks/families";
import type { DestinationRow } from "../../db/destinations";
import type { TestAttempt } from "../../delivery/test-event";
import { DataTable, DestinationLink, Fact, Select, TenantFact } from "../components";
import { time } from "../format";
import { ActionButton, Csrf, Page } from "../layout";
import { mayChange, type Scope } from "../scope";
import { RecoverForm } from "./deliveries";

type View = { header_names: string[] } & DestinationRow;

/** Whether a destination is delivered to, in the words of the list and of its page. */
const stateOf = (d: DestinationRow) => (d.enabled ? "active" : `paused: ${d.disabled_reason ?? ""}`);

/** The event types a destination takes; none named means all. */
const eventTypesOf = (d: DestinationRow) => (d.event_types ? (JSON.parse(d.event_types) as string[]).join(", ") : "all");

/** The fields of the add and the edit form; `d` fills them in for an edit. */
function DestinationFields(props: { d?: View }) {
  const d = props.d;
  const chosen: string[] = d?.event_types ? (JSON.parse(d.event_types) as string[]) : [];
  return (
    <>
      <label>
        URL
        <input type="url" name="url" required value={d?.url ?? ""} placeholder="https://crm.example.com/hooks/airudder" />
      </label>
      <fieldset>
        <legend>Event types (none ticked: all)</legend>
        <div class="types">
          {eventTypes.map((t) => (
            <label class="check">
              <input type="checkbox" name="event_types" value={t} checked={chosen.includes(t)} /> {t}
            </label>
          ))}
        </div>
      </fieldset>
      <label>
        Filter (JSON, optional)
        <textarea name="filter" placeholder='{"data.transfer_status": "2"}'>
          {d?.filter ?? ""}
        </textarea>
      </label>
      <Select
        label="Format"
        name="format"
        choices={[
          { value: "envelope", label: "envelope (id, type, tenant, received_at, data)" },
          { value: "raw", label: "raw (AiRudder's body exactly)" },
        ]}
        selected={d?.format ?? "envelope"}
      />
      <label>
        Rate limit (requests, empty: none)
        <input type="number" name="rate_limit" min={1} max={100000} value={d?.rate_limit === null || d?.rate_limit === undefined ? "" : String(d.rate_limit)} />
      </label>
      <Select label="Per" name="rate_limit_period" choices={["second", "minute", "hour"]} selected={d?.rate_limit_period ?? "second"} />
      <label>
        {d ? `Headers, one "Name: value" a line (empty: keep ${d.header_names.length ? d.header_names.join(", ") : "none"})` : 'Headers, one "Name: value" a line (optional)'}
        <textarea name="headers" placeholder="Authorization: Bearer …"></textarea>
      </label>
      {d && d.header_names.length > 0 && (
        <label class="check">
          <input type="checkbox" name="clear_headers" /> Remove all headers
        </label>
      )}
    </>
  );
}

export function DestinationList(props: { scope: Scope; tenant: string; rows: View[]; addAction: string }) {
  const { scope } = props;
  return (
    <>
      <h2>Destinations</h2>
      <DataTable
        headers={["URL", "Event types", "State", "Format"]}
        rows={props.rows}
        empty={<p>No destination yet.</p>}
        row={(d) => (
          <tr>
            <td>
              <DestinationLink scope={scope} destination={d} />
            </td>
            <td>{eventTypesOf(d)}</td>
            <td>{stateOf(d)}</td>
            <td>{d.format}</td>
          </tr>
        )}
      />
      {mayChange(scope) && (
        <details>
          <summary>Add a destination</summary>
          <form method="post" action={props.addAction} class="stack">
            <Csrf scope={scope} />
            <DestinationFields />
            <label>
              Signing secret (optional: whsec_…; generated when empty)
              <input name="secret" autocomplete="off" />
            </label>
            <label class="check">
              <input type="checkbox" name="start_paused" /> Start paused
            </label>
            <div class="actions">
              <button type="submit">Add destination</button>
            </div>
          </form>
        </details>
      )}
    </>
  );
}

export function DestinationPage(props: { scope: Scope; d: View; notice: string | null; test?: TestAttempt }) {
  const { scope, d } = props;
  const base = `${scope.base}/destinations/${d.id}`;
  const change = mayChange(scope);
  return (
    <Page title="Destination" scope={scope} current={scope.kind === "operator" ? "/admin/tenants" : "/portal"} notice={props.notice}>
      <section>
        <dl class="facts">
          <Fact term="URL" mono>
            {d.url}
          </Fact>
          <Fact term="Id" mono>
            {d.id}
          </Fact>
          <TenantFact scope={scope} tenant={d.tenant_id} />
          <Fact term="State">{stateOf(d)}</Fact>
          <Fact term="Event types">{eventTypesOf(d)}</Fact>
          <Fact term="Headers">{d.header_names.length ? d.header_names.join(", ") : "none"}</Fact>
          <Fact term="Rate limit">{d.rate_limit ? `${d.rate_limit} per ${d.rate_limit_period}` : "none"}</Fact>
          <Fact term="Updated">{time(d.updated_at)}</Fact>
        </dl>
        <p>
          <a href={`${scope.base}/deliveries?destination=${d.id}`}>Its deliveries</a>
        </p>
      </section>
      {props.test && (
        <section aria-live="polite">
          <h2>Test event sent</h2>
          <dl class="facts">
            <Fact term="Type">{props.test.type}</Fact>
            <Fact term="Status">{props.test.status_code ?? "no answer"}</Fact>
            <Fact term="Duration">{`${props.test.duration_ms} ms`}</Fact>
            <Fact term="Error">{props.test.error ?? "none"}</Fact>
            {props.test.response_body && (
              <Fact term="Response" mono>
                {props.test.response_body.slice(0, 300)}
              </Fact>
            )}
          </dl>
        </section>
      )}
      {change && (
        <>
          <section>
            <h2>Actions</h2>
            <div class="actions">
              {d.enabled ? (
                <ActionButton scope={scope} action={`${base}/pause`} label="Pause destination" kind="secondary" />
              ) : (
                <ActionButton scope={scope} action={`${base}/resume`} label="Resume destination" />
              )}
              <ActionButton scope={scope} action={`${base}/rotate-secret`} label="Rotate signing secret" kind="secondary" />
            </div>
            <form method="post" action={`${base}/test`} class="filters">
              <Csrf scope={scope} />
              <Select label="Test event type" name="type" choices={eventTypes} />
              <button type="submit">Send test event</button>
            </form>
            <RecoverForm scope={scope} destinationId={d.id} />
          </section>
          <section>
            <details>
              <summary>Edit destination</summary>
              <form method="post" action={base} class="stack">
                <Csrf scope={scope} />
                <DestinationFields d={d} />
                <div class="actions">
                  <button type="submit">Save destination</button>
                </div>
              </form>
            </details>
          </section>
          <section>
            <details>
              <summary>Delete destination</summary>
              <p>Its undelivered deliveries become dead. This cannot be undone.</p>
              <ActionButton scope={scope} action={`${base}/delete`} label="Delete destination" kind="danger" />
            </details>
          </section>
        </>
      )}
    </Page>
  );
}
