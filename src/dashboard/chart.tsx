import type { HourCounts } from "../query/stats";

const HOUR = 3_600_000;

export interface Series {
  key: "received" | "delivered" | "failed" | "dead";
  label: string;
  values: number[];
}

const dash: Record<Series["key"], string | undefined> = { received: undefined, delivered: undefined, failed: "6 3", dead: "2 3" };

/** Every hour from `since` to `until`, with zeros where nothing happened (hourlyCounts leaves those out). */
export function hoursBetween(since: number, until: number, counts: readonly HourCounts[]): { hours: number[]; at: (h: number) => HourCounts | undefined } {
  const first = Math.floor(since / HOUR) * HOUR;
  const hours: number[] = [];
  for (let h = first; h <= until; h += HOUR) hours.push(h);
  const byHour = new Map(counts.map((c) => [c.hour, c]));
  return { hours, at: (h) => byHour.get(h) };
}

/**
 * A line chart drawn on the server as SVG: no script, no external library,
 * nothing for the content security policy to allow. Colours come from the
 * stylesheet and each line has its own dash pattern, so the lines stay
 * apart without colour too; the figures are in a table beside it.
 */
export function LineChart(props: { title: string; hours: number[]; series: Series[] }) {
  const width = 720;
  const height = 220;
  const pad = { left: 36, right: 8, top: 10, bottom: 24 };
  const max = Math.max(1, ...props.series.flatMap((s) => s.values));
  const n = props.hours.length;
  const x = (i: number) => pad.left + (n <= 1 ? 0 : (i * (width - pad.left - pad.right)) / (n - 1));
  const y = (v: number) => height - pad.bottom - (v * (height - pad.top - pad.bottom)) / max;
  const ticks = [0, Math.round(max / 2), max];
  const labelEvery = Math.max(1, Math.ceil(n / 8));
  const summary = props.series.map((s) => `${s.label}: ${s.values.reduce((a, b) => a + b, 0)}`).join(", ");
  return (
    <figure>
      <svg class="chart" viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${props.title}. Totals: ${summary}`}>
        {ticks.map((t) => (
          <>
            <line class="grid" x1={pad.left} x2={width - pad.right} y1={y(t)} y2={y(t)} />
            <text x={pad.left - 4} y={y(t) + 4} text-anchor="end">
              {String(t)}
            </text>
          </>
        ))}
        <line class="axis" x1={pad.left} x2={width - pad.right} y1={height - pad.bottom} y2={height - pad.bottom} />
        {props.hours.map((h, i) =>
          i % labelEvery === 0 ? (
            <text x={x(i)} y={height - 6} text-anchor="middle">
              {n > 48 ? new Date(h).toISOString().slice(5, 10) : new Date(h).toISOString().slice(11, 16)}
            </text>
          ) : null,
        )}
        {props.series.map((s) => (
          <polyline
            class={`c-${s.key}`}
            fill="none"
            stroke="currentColor"
            stroke-width="2"
            stroke-dasharray={dash[s.key]}
            points={s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ")}
          />
        ))}
      </svg>
      <figcaption>
        <strong>{props.title}</strong> (UTC hours)
        <span class="legend">
          {props.series.map((s) => (
            <span class={`c-${s.key}`}>{`${s.label} (${s.values.reduce((a, b) => a + b, 0)})`}</span>
          ))}
        </span>
      </figcaption>
    </figure>
  );
}
