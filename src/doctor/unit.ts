// The unit as systemd sees it: `systemctl show UNIT -p LoadState,ActiveState,SubState,
// NRestarts,Result,ExecMainStatus`, judged by a pure function. systemctl missing, or no
// systemd running (a container), is a SKIP, not a failure.

import { check, type Check } from './check.js';
import { oneLine } from './format.js';
import type { RunProgram } from './exec.js';

export const UNIT_PROPERTIES = ['LoadState', 'ActiveState', 'SubState', 'NRestarts', 'Result', 'ExecMainStatus'] as const;

/** What each of SPEC's exit codes means, for a unit that stopped with it. */
const EXIT_MEANING: Record<string, string> = {
  '1': 'internal error',
  '2': 'bad command line',
  '69': 'receiver unreachable',
  '75': 'locked by another shipper',
  '77': 'the receiver refused our credentials',
  '78': 'configuration invalid',
};

export function parseShow(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

function exitWords(p: Record<string, string>): string {
  const status = p.ExecMainStatus;
  if (!status || status === '0') return '';
  const meaning = EXIT_MEANING[status];
  return `, exit status ${status}${meaning ? ` (${meaning})` : ''}`;
}

function fixFor(p: Record<string, string>, unit: string, configFile: string): string {
  const cfg = configFile === '/etc/shipper/lab-host.toml' ? '' : ` --config ${configFile}`;
  if (p.ExecMainStatus === '78') return `shipper check-config${cfg}; fix what it names, then: sudo systemctl restart ${unit}`;
  if (p.ExecMainStatus === '77') return `check receiver.token_file and receiver.cert (shipper --ping${cfg}), then: sudo systemctl restart ${unit}`;
  if (p.Result === 'watchdog') return `journalctl -u ${unit} --since=-1h to see what stalled, then: sudo systemctl restart ${unit}`;
  if (p.Result === 'start-limit-hit') return `journalctl -u ${unit} -n 50 for the cause of the crash loop, then: sudo systemctl reset-failed ${unit} && sudo systemctl start ${unit}`;
  return `journalctl -u ${unit} -n 50 for the cause, then: sudo systemctl restart ${unit}`;
}

/** Judge `systemctl show` properties. */
export function judgeUnit(p: Record<string, string>, unit: string, configFile: string): Check {
  const state = `${p.ActiveState ?? '?'} (${p.SubState ?? '?'})`;
  const restarts = Number(p.NRestarts ?? '0');
  const result = p.Result && p.Result !== 'success' ? `, result ${p.Result}` : '';
  if (p.LoadState === 'not-found') {
    return check('unit', 'fail', `${unit} is not installed`, `sudo scripts/install-lab-host.sh (from a checkout or /opt/shipper), or name the unit with --unit`);
  }
  if (p.LoadState && p.LoadState !== 'loaded') {
    return check('unit', 'fail', `${unit} could not be loaded (LoadState=${p.LoadState})`, `systemctl status ${unit}; fix the unit file, then: sudo systemctl daemon-reload`);
  }
  switch (p.ActiveState) {
    case 'active':
      if (p.SubState === 'running' && restarts > 0) {
        return check('unit', 'warn', `${state}, but restarted ${restarts} time${restarts === 1 ? '' : 's'} since it was started${result}`, `journalctl -u ${unit} -p warning --since today for why`);
      }
      if (p.SubState === 'running') return check('unit', 'ok', `${unit} is ${state}`);
      return check('unit', 'warn', `${unit} is ${state}`, `systemctl status ${unit}`);
    case 'reloading':
      return check('unit', 'ok', `${unit} is ${state}`);
    case 'activating':
      if (p.SubState === 'auto-restart') {
        return check('unit', 'fail', `${unit} is restarting after a failure${result}${exitWords(p)}; restarted ${restarts} time${restarts === 1 ? '' : 's'}`, fixFor(p, unit, configFile));
      }
      return check('unit', 'warn', `${unit} is ${state}`, `systemctl status ${unit} (wait for READY=1; it follows the recovery of the last run)`);
    case 'failed':
      return check('unit', 'fail', `${unit} has failed${result}${exitWords(p)}`, fixFor(p, unit, configFile));
    case 'inactive':
      return check('unit', 'fail', `${unit} is not running (${state}${result}${exitWords(p)})`, `sudo systemctl enable --now ${unit}`);
    case 'deactivating':
      return check('unit', 'warn', `${unit} is stopping (${state})`, `systemctl status ${unit}`);
    default:
      return check('unit', 'warn', `${unit} is ${state}`, `systemctl status ${unit}`);
  }
}

export async function checkUnit(run: RunProgram, env: NodeJS.ProcessEnv, unit: string, configFile: string): Promise<Check> {
  const r = await run('systemctl', ['show', unit, '-p', UNIT_PROPERTIES.join(','), '--no-pager'], { env, timeoutMs: 10_000 });
  if (r.missing) return check('unit', 'skip', 'systemctl is not installed here; the unit was not checked');
  if (r.timedOut) return check('unit', 'warn', 'systemctl show did not answer within 10 s', `systemctl status ${unit}`);
  if (r.code !== 0) {
    const why = oneLine(r.stderr || `exit ${r.code}`, 90);
    if (/not been booted with systemd|Failed to connect to bus|System has not been booted/i.test(r.stderr)) {
      return check('unit', 'skip', `systemd is not running here (${why})`);
    }
    return check('unit', 'warn', `systemctl show ${unit} failed: ${why}`, `systemctl status ${unit}`);
  }
  return judgeUnit(parseShow(r.stdout), unit, configFile);
}
