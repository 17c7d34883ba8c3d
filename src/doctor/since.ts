// `--since 10min` for `shipper doctor`: a time span back from now, in the units systemd
// itself understands (systemd.time(7)), handed to journalctl as `--since=-10min`.

import { ErrorCodes, ShipperError } from '../errors.js';

export interface Since {
  /** The span in seconds. */
  seconds: number;
  /** For journalctl: `-10min`, `-2h`, `-1d`. */
  journal: string;
  /** For people: `10min`. */
  label: string;
}

const UNITS: Record<string, { unit: string; seconds: number }> = {};
for (const [unit, seconds, aliases] of [
  ['s', 1, ['s', 'sec', 'secs', 'second', 'seconds']],
  ['min', 60, ['m', 'min', 'mins', 'minute', 'minutes']],
  ['h', 3600, ['h', 'hr', 'hrs', 'hour', 'hours']],
  ['d', 86400, ['d', 'day', 'days']],
  ['w', 604800, ['w', 'week', 'weeks']],
] as const) {
  for (const a of aliases) UNITS[a] = { unit, seconds };
}

/** Parse `10min`, `2h`, `1d`, `90s`, `45` (seconds); a leading `-` is allowed. */
export function parseSince(text: string): Since {
  const m = /^-?\s*(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const u = m ? UNITS[(m[2] || 's').toLowerCase()] : undefined;
  if (!m || !u || Number(m[1]) <= 0) {
    throw new ShipperError(ErrorCodes.USAGE, `--since ${JSON.stringify(text)} is not a time span; use e.g. 10min, 2h, 1d; see shipper --help`);
  }
  const n = Number(m[1]);
  return { seconds: n * u.seconds, journal: `-${n}${u.unit}`, label: `${n}${u.unit}` };
}
