// "Did you mean" for unknown keys: a near miss within the same table, or the same name in
// another table (`scan_interval_s` at the top level belongs in [ship]).

function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The known dotted key closest to `unknown`, if one is close enough to be a typo. */
export function suggestKey(unknown: string, known: readonly string[]): string | undefined {
  const leaf = unknown.split('.').pop()!;
  const sameLeaf = known.find((k) => k.split('.').pop() === leaf && k !== unknown);
  if (sameLeaf) return sameLeaf;
  let best: { key: string; d: number } | undefined;
  for (const k of known) {
    const d = distance(unknown, k);
    if (best === undefined || d < best.d) best = { key: k, d };
  }
  if (best && best.d <= Math.max(2, Math.floor(unknown.length / 5))) return best.key;
  // A typo in the leaf alone: compare leaves of the same table.
  const table = unknown.includes('.') ? unknown.slice(0, unknown.lastIndexOf('.')) : '';
  for (const k of known) {
    const kt = k.includes('.') ? k.slice(0, k.lastIndexOf('.')) : '';
    if (kt === table && distance(leaf, k.split('.').pop()!) <= 2) return k;
  }
  return undefined;
}
