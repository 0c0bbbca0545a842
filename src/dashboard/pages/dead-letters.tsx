import type { DeadLetterRow } from "../../db/dead-letters";
import { deadLetterState, type DeadLetterState } from "../../maintenance/redrive";
import { MAX_REDRIVES } from "../../queue-messages";
import { DataTable, Pager } from "../components";
import { time } from "../format";
import { ActionButton, Page } from "../layout";
import type { Scope } from "../scope";

const meaning: Record<DeadLetterState, string> = {
  "handed back next sweep": "the sweep hands it back to its queue",
  kept: `handed back ${MAX_REDRIVES} times and still failing: fix the cause (see the log for its errors), then hand it back again`,
  "due in D1": "a delivery: D1 holds it as due, and the sweep sends it",
  unreadable: "not of its queue's shape: no retry can read it",
};

export const DeadLettersPage = (props: { scope: Scope; rows: DeadLetterRow[]; next: string | null; notice: string | null }) => (
  <Page title="Dead letters" scope={props.scope} current="/admin/dead-letters" notice={props.notice}>
    <p class="muted">
      Queue messages that used up their retries, or that no consumer could read. Callbacks, jobs and erasures go back to their queue up to {MAX_REDRIVES} times;
      bodies are not shown (a callback's holds phone numbers).
    </p>
    <DataTable
      headers={["Recorded", "Queue", "Kind", "Event", "Tenant", "Handed back", "What happens", ""]}
      rows={props.rows}
      empty={<p>No dead letters.</p>}
      row={(d) => {
        const state = deadLetterState(d);
        return (
          <tr>
            <td>{time(d.received_at)}</td>
            <td>{d.queue}</td>
            <td>{d.kind ?? "—"}</td>
            <td>{d.event_id ? <a href={`/admin/events/${d.event_id}`}>{d.event_id}</a> : "—"}</td>
            <td>{d.tenant_id ?? "—"}</td>
            <td>{d.redriven ?? 0}</td>
            <td>{`${state}: ${meaning[state]}`}</td>
            <td>{state === "kept" && <ActionButton scope={props.scope} action={`/admin/dead-letters/${d.id}/hand-back`} label="Hand back again" kind="secondary" />}</td>
          </tr>
        );
      }}
    />
    <Pager path="/admin/dead-letters" next={props.next} />
  </Page>
);
