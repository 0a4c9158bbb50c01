// Small helpers the SMTP load benches share: option parsing, medians, number formatting, plain-text tables.

/** `values[name]` as an integer in min..max, or an error that names the option. */
export function intOption(values: Record<string, unknown>, name: string, min: number, max: number): number {
  const raw = values[name];
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in ${min}..${max}, got ${String(raw)}`);
  return n;
}

/** Median of the finite values; undefined when there are none. */
export function median(xs: readonly (number | undefined)[]): number | undefined {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

/** `x` with `digits` decimals, '-' when undefined or not finite. */
export function fmt(x: number | undefined, digits = 0): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

/** a / b, undefined when either is missing or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a !== undefined && b !== undefined && b !== 0 && Number.isFinite(a) && Number.isFinite(b) ? a / b : undefined;
}

/** Lines of a table: the first `leftColumns` columns left-aligned, the rest right-aligned. */
export function tableLines(header: readonly string[], rows: readonly (readonly string[])[], leftColumns: number): string[] {
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((row) => (row[k] ?? '').length)));
  return [header, ...rows].map((row) => row.map((c, k) => (k < leftColumns ? c.padEnd(widths[k] as number) : c.padStart(widths[k] as number))).join('  ').trimEnd());
}
