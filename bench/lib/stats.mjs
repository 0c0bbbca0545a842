export function median(values) {
  const xs = values.filter((v) => typeof v === "number" && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

export const fmt = (v, digits = 0) => (v === null || v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(digits));

/** Fixed-width columns: the first left-aligned, the rest right-aligned. */
export function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows
    .map((r) => r.map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]))).join("  "))
    .join("\n");
}

/** A target line: value, target, and whether it was met (unknown when the value could not be measured). */
export function verdict(value, ok) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "unknown";
  return ok ? "met" : "NOT met";
}
