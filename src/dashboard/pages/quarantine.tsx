import type { QuarantineRow } from "../../db/quarantine";
import { DataTable, Fact, Pager } from "../components";
import { maskedForDisplay } from "../conversation";
import { time } from "../format";
import { ActionButton, Page } from "../layout";
import type { Scope } from "../scope";

const issuesOf = (q: QuarantineRow) => JSON.parse(q.issues) as { path: string; message: string }[];

export const QuarantinePage = (props: { scope: Scope; rows: QuarantineRow[]; next: string | null; notice: string | null }) => (
  <Page title="Quarantine" scope={props.scope} current="/admin/quarantine" notice={props.notice}>
    <p class="muted">Callbacks refused by their family's schema; each body is kept as received.</p>
    <DataTable
      headers={["Received", "Tenant", "Kind", "Times", "Issues", "Replayed as"]}
      rows={props.rows}
      empty={<p>Nothing in quarantine.</p>}
      row={(q) => (
        <tr>
          <td>
            <a href={`/admin/quarantine/${q.id}`}>{time(q.received_at)}</a>
          </td>
          <td>{q.tenant_id}</td>
          <td>{q.kind}</td>
          <td>{q.times_received}</td>
          <td>{issuesOf(q).map((i) => `${i.path}: ${i.message}`).join("; ")}</td>
          <td>{q.replayed_event_id ? <a href={`/admin/events/${q.replayed_event_id}`}>{q.replayed_event_id}</a> : "—"}</td>
        </tr>
      )}
    />
    <Pager path="/admin/quarantine" next={props.next} />
  </Page>
);

function pretty(body: string): string {
  try {
    return JSON.stringify(maskedForDisplay(JSON.parse(body)), null, 2);
  } catch {
    return "(not JSON)";
  }
}

export const QuarantinedPage = (props: { scope: Scope; q: QuarantineRow; notice: string | null }) => (
  <Page title={`Quarantined callback ${props.q.id}`} scope={props.scope} current="/admin/quarantine" notice={props.notice}>
    <section>
      <dl class="facts">
        <Fact term="Tenant">{props.q.tenant_id}</Fact>
        <Fact term="Kind">{props.q.kind}</Fact>
        <Fact term="First received">{time(props.q.received_at)}</Fact>
        <Fact term="Last received">{`${time(props.q.last_received_at)} (${props.q.times_received} times)`}</Fact>
        <Fact term="Replayed as">{props.q.replayed_event_id ? <a href={`/admin/events/${props.q.replayed_event_id}`}>{props.q.replayed_event_id}</a> : "not yet"}</Fact>
      </dl>
    </section>
    <section>
      <h2>Issues</h2>
      <ul>
        {issuesOf(props.q).map((i) => (
          <li>
            <code>{i.path || "(body)"}</code>: {i.message}
          </li>
        ))}
      </ul>
    </section>
    <section>
      <details open>
        <summary>Raw body (phone numbers masked)</summary>
        <pre>{pretty(props.q.body)}</pre>
      </details>
    </section>
    <div class="actions">
      <ActionButton scope={props.scope} action={`/admin/quarantine/${props.q.id}/replay`} label="Validate again and replay" />
    </div>
  </Page>
);
