// Medians, the printed table and its JSON copy.

export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export const MB = 1e6;

/** Format a number with a sensible number of digits. */
export function fmt(x, digits = null) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (typeof x === 'string') return x;
  if (digits !== null) return x.toFixed(digits);
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : x.toFixed(3);
}

/**
 * A row: `scenario`, `measure` (with its unit), `shipper`, `baseline`, `ratio`
 * (baseline/shipper for times, so above 1 means the shipper is faster), `target` (text),
 * `ok` (true/false/null), `limit` (text: the physical limit it is compared with), and
 * `runs` (the raw figures, in the JSON only).
 */
export function renderTable(rows) {
  const cols = [
    ['scenario', (r) => r.scenario],
    ['measure', (r) => r.measure],
    ['shipper', (r) => fmt(r.shipper)],
    ['baseline', (r) => fmt(r.baseline)],
    ['ratio', (r) => fmt(r.ratio, 2)],
    ['target', (r) => r.target ?? ''],
    ['verdict', (r) => (r.ok === true ? 'met' : r.ok === false ? 'MISSED' : '')],
    ['limit / context', (r) => r.limit ?? ''],
  ];
  const cells = rows.map((r) => cols.map(([, f]) => String(f(r))));
  const widths = cols.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (vals) => '| ' + vals.map((v, i) => v.padEnd(widths[i])).join(' | ') + ' |';
  return [line(cols.map(([h]) => h)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}
