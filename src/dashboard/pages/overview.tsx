import type { DestinationRow } from "../../db/destinations";
import type { HourCounts } from "../../query/stats";
import { hoursBetween, LineChart } from "../chart";
import { DataTable, DestinationLink } from "../components";
import { time } from "../format";
import { Page } from "../layout";
import type { Scope } from "../scope";

export type Range = "24h" | "7d";

export function OverviewPage(props: {
  scope: Scope;
  range: Range;
  since: number;
  until: number;
  counts: HourCounts[];
  held: number;
  dead: number;
  paused: DestinationRow[];
  /** The operator's overview only: dead letters have no tenant. */
  deadLetters?: number;
}) {
  const { scope } = props;
  const { hours, at } = hoursBetween(props.since, props.until, props.counts);
  const pick = (f: (c: HourCounts) => number) => hours.map((h) => {
    const c = at(h);
    return c ? f(c) : 0;
  });
  const retries = (c: HourCounts, k: "delivered" | "failed" | "dead") => c.by_trigger.retry[k] + c.by_trigger.operator[k];
  return (
    <Page title="Overview" scope={scope} current="/admin">
      <div class="stats">
        <a class="stat" href={`${scope.base}/deliveries?status=held`}>
          <b>{props.held}</b>held
        </a>
        <a class="stat" href={`${scope.base}/deliveries?status=dead`}>
          <b>{props.dead}</b>dead
        </a>
        <span class="stat">
          <b>{props.paused.length}</b>paused destinations
        </span>
        {props.deadLetters !== undefined && (
          <a class="stat" href={`${scope.base}/dead-letters`}>
            <b>{props.deadLetters}</b>dead letters
          </a>
        )}
      </div>
      <section>
        <p>
          Last {props.range === "24h" ? "24 hours" : "7 days"} ·{" "}
          {props.range === "24h" ? <a href={`${scope.base}?range=7d`}>Show 7 days</a> : <a href={`${scope.base}?range=24h`}>Show 24 hours</a>}
        </p>
        <LineChart
          title="Events received and first attempts"
          hours={hours}
          series={[
            { key: "received", label: "received", values: pick((c) => c.received) },
            { key: "delivered", label: "delivered", values: pick((c) => c.by_trigger.first.delivered) },
            { key: "failed", label: "failed", values: pick((c) => c.by_trigger.first.failed) },
            { key: "dead", label: "dead", values: pick((c) => c.by_trigger.first.dead) },
          ]}
        />
        <LineChart
          title="Retries (automatic and by an operator)"
          hours={hours}
          series={[
            { key: "delivered", label: "delivered", values: pick((c) => retries(c, "delivered")) },
            { key: "failed", label: "failed", values: pick((c) => retries(c, "failed")) },
            { key: "dead", label: "dead", values: pick((c) => retries(c, "dead")) },
          ]}
        />
        <details>
          <summary>The figures, per hour</summary>
          <DataTable
            headers={["Hour (UTC)", "Received", "Delivered (first / retry)", "Failed (first / retry)", "Dead (first / retry)"]}
            rows={props.counts}
            row={(c) => (
              <tr>
                <td>{time(c.hour)}</td>
                <td>{c.received}</td>
                <td>{`${c.by_trigger.first.delivered} / ${retries(c, "delivered")}`}</td>
                <td>{`${c.by_trigger.first.failed} / ${retries(c, "failed")}`}</td>
                <td>{`${c.by_trigger.first.dead} / ${retries(c, "dead")}`}</td>
              </tr>
            )}
          />
        </details>
      </section>
      <h2>Paused destinations</h2>
      <DataTable
        headers={["Destination", "Tenant", "Reason", "Since"]}
        rows={props.paused}
        empty={<p>None.</p>}
        row={(d) => (
          <tr>
            <td>
              <DestinationLink scope={scope} destination={d} />
            </td>
            <td>{d.tenant_id}</td>
            <td>{d.disabled_reason ?? "—"}</td>
            <td>{time(d.updated_at)}</td>
          </tr>
        )}
      />
    </Page>
  );
}
