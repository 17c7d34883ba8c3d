// Small renderings shared by `status` and `doctor`: times as ISO seconds with a relative
// age, durations, byte counts, and one-line truncation so that output fits a terminal.

/** `2026-11-22T10:00:00Z`: ISO without milliseconds. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** `45 s`, `12 min`, `3.5 h`, `2.1 d`. */
export function span(ms: number): string {
  const s = Math.abs(ms) / 1000;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 48 * 3600) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

/** `2026-11-22T10:00:00Z (12 min ago)` or `(in 40 s)`. */
export function when(ms: number, now: number): string {
  const rel = ms <= now ? `${span(now - ms)} ago` : `in ${span(ms - now)}`;
  return `${isoSeconds(ms)} (${rel})`;
}

export function bytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/** One line, at most `max` characters, newlines folded. */
export function oneLine(text: string, max = 110): string {
  const s = text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}

export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
