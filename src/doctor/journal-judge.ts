// The journal's classes as doctor lines: one line per class present, the most actionable
// first, each with the command that fixes it. Pure.

import { check, type Check } from './check.js';
import { oneLine, plural } from './format.js';
import { presentClasses, type ClassTally, type JournalSummary, type ProblemClass } from './journal.js';

export interface JournalContext {
  unit: string;
  /** `10min` */
  since: string;
  /** The config file, for commands that need --config. */
  configFile: string;
}

function statuses(t: ClassTally): string {
  const e = Object.entries(t.statuses).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return e.length === 0 ? '' : ` (${e.map(([s, n]) => (e.length > 1 ? `${s} ×${n}` : s)).join(', ')})`;
}

function episodes(t: ClassTally): string {
  return t.episodes.length === 0 ? '' : `, e.g. ${t.episodes.join(', ')}`;
}

function cfg(ctx: JournalContext): string {
  return ctx.configFile === '/etc/shipper/lab-host.toml' ? '' : ` --config ${ctx.configFile}`;
}

function line(cls: ProblemClass, t: ClassTally, ctx: JournalContext): Check {
  const n = t.count;
  const within = `in the last ${ctx.since}`;
  const ex = oneLine(t.example, 90);
  const c = cfg(ctx);
  switch (cls) {
    case 'config_invalid':
      return check('journal', 'fail', `${plural(n, 'configuration refusal')} ${within}: ${ex}`, `shipper check-config${c}; fix what it names, then: sudo systemctl restart ${ctx.unit}`);
    case 'auth':
      return check('journal', 'fail', `${plural(n, 'auth refusal')}${statuses(t)} ${within}: the receiver refuses our credentials`, `check receiver.token_file and that the receiver trusts receiver.cert, then: shipper --ping${c}`);
    case 'misrouted':
      return check('journal', 'fail', `${plural(n, 'misrouted answer')}${statuses(t)} ${within}: receiver.url looks wrong (path prefix? a proxy?)`, `fix receiver.url, then: shipper --ping${c} && sudo systemctl reload ${ctx.unit}`);
    case 'disk_full':
      return check('journal', 'fail', `the data disk was full ${plural(n, 'time')} ${within}`, 'free space in the data folder (du -sh <data_dir>/* | sort -h); set shipped.keep_days to prune shipped/');
    case 'rejected_window':
      return check(
        'journal',
        'warn',
        `${plural(n, 'episode')} rejected as out of the receiver's window (412) ${within}${episodes(t)}`,
        `fix the recorder's clock or the receiver's --window-days, then: shipper requeue${c} --all --reason receiver_rejected --status 412`,
      );
    case 'rejected_commit':
      return check(
        'journal',
        'warn',
        `${plural(n, 'episode')} rejected by the commit gate${statuses(t)} ${within}${episodes(t)} (400 can also be a body that did not match its digest)`,
        `stamp code_version.commit in the recorder's meta.json, then: shipper requeue${c} --all --status 400 (or --reason unstamped)`,
      );
    case 'rejected_other':
      return check('journal', 'warn', `${plural(n, 'episode')} rejected by the receiver${statuses(t)} ${within}${episodes(t)}`, `read quarantine/<id>/quarantine_reason.json; once fixed: shipper requeue${c} <id>`);
    case 'quarantined_local':
      return check('journal', 'warn', `${plural(n, 'episode')} quarantined locally ${within}${episodes(t)}: ${ex}`, `read quarantine/<id>/quarantine_reason.json; once fixed: shipper requeue${c} <id>`);
    case 'watchdog':
      return check(
        'journal',
        'warn',
        `${plural(n, 'watchdog restart')} ${within}: the daemon stopped making progress and systemd killed it`,
        `journalctl -u ${ctx.unit} --since=-1h to see what it was doing (a hung upload? a stalled disk?); report it with that log`,
      );
    case 'crashed':
      return check('journal', 'warn', `${plural(n, 'unexpected exit')} ${within}: ${ex}`, `journalctl -u ${ctx.unit} --since=-1h -p warning for the error before it`);
    case 'unreachable':
      return check('journal', 'warn', `${plural(n, 'failed attempt')} to reach the receiver ${within} (retried with backoff): ${ex}`, `shipper --ping${c} (check the receiver and the network path)`);
    case 'transient':
      return check('journal', 'warn', `${plural(n, 'transient failure')}${statuses(t)} ${within} (retried with backoff)`, "nothing here: the daemon retries; if it persists, check the receiver's health");
    case 'other_errors':
      return check('journal', 'warn', `${plural(n, 'other error line')} ${within}: ${ex}`, `journalctl -u ${ctx.unit} --since=-${ctx.since} -p err`);
  }
}

/** Doctor lines for a journal summary. */
export function judgeJournal(s: JournalSummary, ctx: JournalContext): Check[] {
  if (s.entries === 0) {
    return [check('journal', 'ok', `nothing logged by ${ctx.unit} in the last ${ctx.since} (an idle daemon is quiet)`)];
  }
  const lines = presentClasses(s).map((cls) => line(cls, s.classes[cls]!, ctx));
  if (lines.length === 0) {
    const what = s.shipped > 0 ? `${plural(s.shipped, 'episode')} shipped` : `${plural(s.entries, 'line')}`;
    return [check('journal', 'ok', `clean: ${what}, no errors in the last ${ctx.since}`)];
  }
  if (s.shipped > 0) lines.push(check('journal', 'ok', `${plural(s.shipped, 'episode')} shipped in the same ${ctx.since}`));
  return lines;
}

/** journalctl could not show the system journal to this user. */
export function journalDenied(stderr: string): boolean {
  return /insufficient permissions|not seeing messages from other users|Permission denied|Access denied|Operation not permitted/i.test(stderr);
}

export function deniedCheck(stderr: string): Check {
  const first = oneLine(stderr.split('\n').find((l) => l.trim() !== '') ?? 'permission denied', 80);
  return check('journal', 'warn', `journalctl may not read the system journal as this user (${first})`, 'sudo usermod -aG systemd-journal $USER (then log in again), or run: sudo shipper doctor');
}
