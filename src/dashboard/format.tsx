/** Times on the pages are UTC, to the second, as the admin API and AiRudder give them. */
export const time = (ms: number | null | undefined) => (ms === null || ms === undefined ? "—" : new Date(ms).toISOString().replace("T", " ").slice(0, 19) + "Z");

export const Status = ({ status }: { status: string }) => <span class={`badge s-${status}`}>{status}</span>;

/** A link to the same page with these query parameters (empty ones left out). */
export function withQuery(path: string, params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** For a datetime-local box: the value it shows for `ms`, in UTC. */
export const localInput = (ms: number | undefined) => (ms === undefined ? "" : new Date(ms).toISOString().slice(0, 16));
