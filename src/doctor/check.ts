// One line per check: a level word (OK, WARN, FAIL, or SKIP when a check could not run),
// a name, what was found, and for WARN and FAIL the command that fixes it. Colour only on
// a terminal that wants it (not with NO_COLOR, not with TERM=dumb), so that pipes, logs
// and tests read plain words.

export type CheckLevel = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  /** Short and stable: config, certificates, receiver, folders, disk, queue, unit, journal. */
  name: string;
  level: CheckLevel;
  summary: string;
  /** The command (or the one action) that fixes a WARN or FAIL; null when none is needed. */
  fix: string | null;
}

const WORD: Record<CheckLevel, string> = { ok: 'OK', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' };
const COLOUR: Record<CheckLevel, string> = { ok: '\x1b[32m', warn: '\x1b[33m', fail: '\x1b[31m', skip: '\x1b[2m' };
const RESET = '\x1b[0m';

export function check(name: string, level: CheckLevel, summary: string, fix: string | null = null): Check {
  return { name, level, summary, fix: level === 'warn' || level === 'fail' ? fix : null };
}

/** Whether to colour: a TTY, no NO_COLOR, and a terminal that is not dumb. */
export function wantsColour(isTty: boolean, env: NodeJS.ProcessEnv): boolean {
  return isTty && env.NO_COLOR === undefined && env.TERM !== 'dumb';
}

export function renderChecks(checks: readonly Check[], colour: boolean): string[] {
  const width = Math.max(8, ...checks.map((c) => c.name.length)) + 2;
  const lines: string[] = [];
  for (const c of checks) {
    const word = WORD[c.level].padEnd(5);
    const shown = colour ? `${COLOUR[c.level]}${word}${RESET}` : word;
    lines.push(`${shown} ${c.name.padEnd(width)}${c.summary}`);
    if (c.fix) lines.push(`${' '.repeat(6 + width)}fix: ${c.fix}`);
  }
  return lines;
}

/** Exit 1 when anything is red; yellow and skipped checks do not fail the run. */
export function doctorExitCode(checks: readonly Check[]): number {
  return checks.some((c) => c.level === 'fail') ? 1 : 0;
}

export function tallyLine(checks: readonly Check[]): string {
  const n = (l: CheckLevel) => checks.filter((c) => c.level === l).length;
  const fail = n('fail');
  const warn = n('warn');
  if (fail + warn === 0) return `all ${checks.length - n('skip')} checks passed${n('skip') ? ` (${n('skip')} skipped)` : ''}`;
  return `${fail} failed, ${warn} warning${warn === 1 ? '' : 's'}, ${n('ok')} ok${n('skip') ? `, ${n('skip')} skipped` : ''}`;
}
