// What the unit's journal says, in classes an operator can act on. Pure: `journalctl -o
// json` lines in (one JSON object a line), a summary out; `judgeJournal` turns it into
// doctor lines, the most actionable first:
//
//   config_invalid   the daemon refused its config (at start, or at a reload)       FAIL
//   auth             the receiver refused our credentials (401/403, client cert)    FAIL
//   misrouted        answers that mean a wrong receiver.url or a proxy               FAIL
//   disk_full        the data disk filled                                            FAIL
//   rejected_window  quarantined with 412: ended_at outside the receiver's window    WARN
//   rejected_commit  quarantined with 400 (the receiver's commit gate, or a body
//                    that did not match its digest), or locally as unstamped         WARN
//   rejected_other   quarantined with 409, 413, 415, 422                             WARN
//   quarantined_local quarantined without a round trip (invalid meta or id, ...)     WARN
//   watchdog         systemd killed the daemon for missing WATCHDOG=1               WARN
//   crashed          the daemon died on an internal error or an unexpected exit      WARN
//   unreachable      no answer from the receiver (retried with backoff)              WARN
//   transient        408/425/429/5xx answers (retried with backoff)                  WARN
//   other_errors     any other line at priority error or worse                       WARN
//
// Blocking problems come first (nothing ships until a person acts), then data that went to
// quarantine (412 before 400: a window is usually one clock or one setting to fix), then
// the daemon's own health, then what heals by itself. Our lines are `event=NAME key=value
// ...` (src/log/logger.ts), possibly still carrying the `<N>` priority prefix; systemd's
// lines about the unit are recognised by MESSAGE_ID, UNIT_RESULT and their wording.

export const PROBLEM_CLASSES = [
  'config_invalid',
  'auth',
  'misrouted',
  'disk_full',
  'rejected_window',
  'rejected_commit',
  'rejected_other',
  'quarantined_local',
  'watchdog',
  'crashed',
  'unreachable',
  'transient',
  'other_errors',
] as const;
export type ProblemClass = (typeof PROBLEM_CLASSES)[number];

/** systemd's catalogue ids (sd-messages.h). */
export const MESSAGE_IDS = {
  unitFailureResult: 'd9b373ed55a64feb8242e02dbe79a49c',
  unitProcessExit: '98e322203f7a4ed290d09fe03c09fe15',
  unitRestartScheduled: '5eb03494b6584870a536b337290809b3',
  /** "Failed to start UNIT": the consequence of a failure already counted. */
  unitFailed: 'be02cf6855d2428ba40df7e9d022f03d',
} as const;

export interface ClassTally {
  count: number;
  /** HTTP statuses seen, with counts. */
  statuses: Record<string, number>;
  /** Up to three episode ids, for the operator to look at. */
  episodes: string[];
  /** The first message of the class, as logged. */
  example: string;
  /** Epoch ms of the last line of the class, when the journal said. */
  lastAt: number | null;
}

export interface JournalSummary {
  entries: number;
  shipped: number;
  /** Daemon starts (event=daemon_ready). */
  starts: number;
  classes: Partial<Record<ProblemClass, ClassTally>>;
}

export type Fields = Record<string, string>;

/** `event=x a=1 b="two words"` → fields; values in double quotes follow JSON string rules. */
export function parseEventLine(message: string): Fields | null {
  const text = message.replace(/^<\d>/, '');
  const at = text.search(/(^|\s)event=/);
  if (at < 0) return null;
  const fields: Fields = {};
  const re = /([A-Za-z0-9_]+)=("(?:[^"\\]|\\.)*"|\S*)/g;
  for (const m of text.slice(at).matchAll(re)) {
    let v = m[2]!;
    if (v.startsWith('"')) {
      try {
        v = JSON.parse(v) as string;
      } catch {
        v = v.slice(1, -1);
      }
    }
    fields[m[1]!] = v;
  }
  return fields;
}

function messageOf(entry: Record<string, unknown>): string {
  const m = entry.MESSAGE;
  if (typeof m === 'string') return m;
  // journald stores non-UTF-8 or binary messages as an array of bytes.
  if (Array.isArray(m) && m.every((b) => typeof b === 'number')) return Buffer.from(m as number[]).toString('utf8');
  return '';
}

function str(entry: Record<string, unknown>, key: string): string | undefined {
  const v = entry[key];
  return typeof v === 'string' ? v : undefined;
}

/** Which class one of our event lines belongs to, or null for a harmless line. */
export function classifyEvent(f: Fields): ProblemClass | null {
  if (f.code === 'SHIP_DISK_FULL' || f.class === 'disk_full') return 'disk_full';
  switch (f.event) {
    case 'quarantined': {
      const status = f.http_status;
      if (status === '412') return 'rejected_window';
      if (status === '400' || f.reason === 'unstamped') return 'rejected_commit';
      if (status !== undefined && status !== '-') return 'rejected_other';
      return 'quarantined_local';
    }
    case 'pass_stopped':
      if (f.class === 'auth') return 'auth';
      if (f.class === 'misrouted') return 'misrouted';
      if (f.class === 'disk_full') return 'disk_full';
      if (f.class === 'unreachable') return f.kind === 'tls_client_cert' ? 'auth' : 'unreachable';
      if (f.class === 'transient') return 'transient';
      return 'other_errors';
    case 'retry_later':
      return 'transient';
    case 'tls_rotation_refused':
      return 'auth';
    case 'reload_refused':
      return 'config_invalid';
    case 'state_write_failed':
      return f.errno === 'ENOSPC' || f.code === 'SHIP_DISK_FULL' ? 'disk_full' : 'other_errors';
    default:
      return null;
  }
}

/** Accumulates journal lines; `summary()` at the end. */
export class JournalClassifier {
  #s: JournalSummary = { entries: 0, shipped: 0, starts: 0, classes: {} };
  #watchdogTimeouts = 0;
  #watchdogResults = 0;
  #watchdog: { example: string; lastAt: number | null } | null = null;

  #add(cls: ProblemClass, example: string, at: number | null, status?: string, episode?: string): void {
    const t = (this.#s.classes[cls] ??= { count: 0, statuses: {}, episodes: [], example, lastAt: null });
    t.count++;
    if (status && /^\d{3}$/.test(status)) t.statuses[status] = (t.statuses[status] ?? 0) + 1;
    if (episode && t.episodes.length < 3 && !t.episodes.includes(episode)) t.episodes.push(episode);
    if (at !== null && (t.lastAt === null || at > t.lastAt)) t.lastAt = at;
  }

  /** One line of `journalctl -o json` output. Lines that are not JSON objects are ignored. */
  add(line: string): void {
    if (!line.startsWith('{')) return;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (!entry || typeof entry !== 'object') return;
    this.#s.entries++;
    const message = messageOf(entry);
    const usec = Number(str(entry, '__REALTIME_TIMESTAMP'));
    const at = Number.isFinite(usec) && usec > 0 ? Math.floor(usec / 1000) : null;

    // systemd (PID 1) about the unit.
    const id = str(entry, 'MESSAGE_ID');
    if (/Watchdog timeout/i.test(message)) {
      this.#watchdogTimeouts++;
      this.#noteWatchdog(message, at);
      return;
    }
    if (str(entry, 'UNIT_RESULT') === 'watchdog' || /Failed with result 'watchdog'/.test(message)) {
      this.#watchdogResults++;
      this.#noteWatchdog(message, at);
      return;
    }
    if (id === MESSAGE_IDS.unitProcessExit || /Main process exited, code=/.test(message)) {
      const code = str(entry, 'EXIT_CODE') ?? /code=(\w+)/.exec(message)?.[1];
      const status = str(entry, 'EXIT_STATUS') ?? /status=(\w+)/.exec(message)?.[1];
      // A watchdog kill (SIGABRT) is counted as watchdog above; a clean exit is no crash.
      if (code === 'exited' && status === '0') return;
      if (code === 'killed' && (status === 'ABRT' || status === '6') && this.#watchdogTimeouts > 0) return;
      if (code === 'killed' && (status === 'TERM' || status === '15' || status === 'INT' || status === '2')) return;
      if (code === 'exited' && status === '78') {
        this.#add('config_invalid', message, at);
        return;
      }
      this.#add('crashed', message, at);
      return;
    }
    if (id === MESSAGE_IDS.unitFailureResult || id === MESSAGE_IDS.unitRestartScheduled || id === MESSAGE_IDS.unitFailed) return;

    // The daemon's own lines.
    const text = message.replace(/^<\d>/, '');
    if (/^shipper: config /.test(text)) {
      this.#add('config_invalid', text, at);
      return;
    }
    if (/^shipper: internal error/.test(text)) {
      this.#add('crashed', text, at);
      return;
    }
    const priority = Number(str(entry, 'PRIORITY') ?? /^<(\d)>/.exec(message)?.[1] ?? '6');
    const f = parseEventLine(text);
    if (f) {
      if (f.event === 'shipped') this.#s.shipped++;
      if (f.event === 'daemon_ready') this.#s.starts++;
      const cls = classifyEvent(f) ?? (priority <= 3 ? 'other_errors' : null);
      if (cls) this.#add(cls, text, at, f.http_status ?? f.status, f.episode);
      return;
    }
    if (priority <= 3 && message !== '') this.#add('other_errors', text, at);
  }

  #noteWatchdog(message: string, at: number | null): void {
    if (!this.#watchdog) this.#watchdog = { example: message, lastAt: at };
    else if (at !== null) this.#watchdog.lastAt = at;
  }

  summary(): JournalSummary {
    const s: JournalSummary = { ...this.#s, classes: { ...this.#s.classes } };
    // Each watchdog kill logs a timeout and a result; either alone counts once.
    const kills = Math.max(this.#watchdogTimeouts, this.#watchdogResults);
    if (kills > 0 && this.#watchdog) {
      s.classes.watchdog = { count: kills, statuses: {}, episodes: [], example: this.#watchdog.example, lastAt: this.#watchdog.lastAt };
    }
    return s;
  }
}

/** Classify a whole `journalctl -o json` output at once. */
export function classifyJournal(text: string): JournalSummary {
  const c = new JournalClassifier();
  for (const line of text.split('\n')) c.add(line.trim());
  return c.summary();
}

/** The classes present, most actionable first. */
export function presentClasses(s: JournalSummary): ProblemClass[] {
  return PROBLEM_CLASSES.filter((c) => (s.classes[c]?.count ?? 0) > 0);
}
