// The pure judges behind `shipper doctor` and `shipper status`: the unit's state, free
// disk, certificate lifetime, --since, the status verdict, and how lines are rendered.

import { describe, expect, it } from 'vitest';
import { doctorExitCode, renderChecks, wantsColour, type Check } from '../../src/doctor/check.js';
import { fixOf, judgeCertificate, judgeDisk } from '../../src/doctor/checks.js';
import { parseSince } from '../../src/doctor/since.js';
import type { Snapshot } from '../../src/doctor/snapshot.js';
import { judgeUnit, parseShow } from '../../src/doctor/unit.js';
import { verdict } from '../../src/doctor/verdict.js';

const UNIT = 'shipper.service';
const CFG = '/etc/shipper/lab-host.toml';
const show = (text: string) => judgeUnit(parseShow(text), UNIT, CFG);

describe('judgeUnit (systemctl show)', () => {
  it('running without restarts is OK', () => {
    expect(show('LoadState=loaded\nActiveState=active\nSubState=running\nNRestarts=0\nResult=success\nExecMainStatus=0\n')).toMatchObject({ level: 'ok', summary: 'shipper.service is active (running)' });
  });
  it('running after restarts is a warning that points at the journal', () => {
    const c = show('LoadState=loaded\nActiveState=active\nSubState=running\nNRestarts=3\nResult=success\nExecMainStatus=0\n');
    expect(c).toMatchObject({ level: 'warn', summary: 'active (running), but restarted 3 times since it was started' });
    expect(c.fix).toMatch(/^journalctl -u shipper\.service/);
  });
  it('failed on a broken config names exit 78 and check-config', () => {
    const c = show('LoadState=loaded\nActiveState=failed\nSubState=failed\nNRestarts=0\nResult=exit-code\nExecMainStatus=78\n');
    expect(c).toMatchObject({ level: 'fail', summary: 'shipper.service has failed, result exit-code, exit status 78 (configuration invalid)' });
    expect(c.fix).toBe('shipper check-config; fix what it names, then: sudo systemctl restart shipper.service');
  });
  it('failed by the watchdog says so', () => {
    const c = show('LoadState=loaded\nActiveState=failed\nSubState=failed\nNRestarts=5\nResult=watchdog\nExecMainStatus=0\n');
    expect(c).toMatchObject({ level: 'fail', summary: 'shipper.service has failed, result watchdog' });
  });
  it('a crash loop waiting to restart is red', () => {
    const c = show('LoadState=loaded\nActiveState=activating\nSubState=auto-restart\nNRestarts=2\nResult=exit-code\nExecMainStatus=1\n');
    expect(c).toMatchObject({ level: 'fail', summary: 'shipper.service is restarting after a failure, result exit-code, exit status 1 (internal error); restarted 2 times' });
  });
  it('a stopped unit says how to start it', () => {
    expect(show('LoadState=loaded\nActiveState=inactive\nSubState=dead\nNRestarts=0\nResult=success\nExecMainStatus=0\n')).toMatchObject({ level: 'fail', fix: 'sudo systemctl enable --now shipper.service' });
  });
  it('an unknown unit says it is not installed', () => {
    expect(show('LoadState=not-found\nActiveState=inactive\nSubState=dead\nNRestarts=0\nResult=success\nExecMainStatus=0\n')).toMatchObject({ level: 'fail', summary: 'shipper.service is not installed' });
  });
});

describe('judgeDisk', () => {
  const GB = 1e9;
  it.each([
    [{ freeBytes: 50 * GB, totalBytes: 100 * GB, freeInodes: 5e6, totalInodes: 6e6 }, 'ok'],
    [{ freeBytes: 9 * GB, totalBytes: 100 * GB, freeInodes: 5e6, totalInodes: 6e6 }, 'warn'], // under 10 %
    [{ freeBytes: 0.9 * GB, totalBytes: 5 * GB, freeInodes: 5e6, totalInodes: 6e6 }, 'warn'], // under 1 GB
    [{ freeBytes: 1.5 * GB, totalBytes: 100 * GB, freeInodes: 5e6, totalInodes: 6e6 }, 'fail'], // under 2 %
    [{ freeBytes: 50 * GB, totalBytes: 100 * GB, freeInodes: 1e4, totalInodes: 6e6 }, 'fail'], // inodes under 2 %
    [{ freeBytes: 50 * GB, totalBytes: 100 * GB, freeInodes: 5e5, totalInodes: 6e6 }, 'warn'], // inodes under 10 %
    [{ freeBytes: 50 * GB, totalBytes: 100 * GB, freeInodes: 0, totalInodes: 0 }, 'ok'], // no inode limit (btrfs)
  ])('%o is %s', (facts, level) => {
    const c = judgeDisk(facts, '/var/lib/shipper');
    expect(c.level).toBe(level);
    if (level !== 'ok') expect(c.fix).toMatch(/^free space: du -sh \/var\/lib\/shipper\/\*/);
  });
});

describe('judgeCertificate', () => {
  const now = new Date('2026-11-22T10:00:00Z');
  const day = 86_400_000;
  const at = (days: number) => new Date(now.getTime() + days * day);
  it('ok with the days left and the key mode', () => {
    expect(judgeCertificate('CN=lab-01', at(90.5), at(900), 0o100600, now)).toMatchObject({ level: 'ok', summary: 'client certificate CN=lab-01 valid for 90 more days (until 2027-02-20); key mode 0600' });
  });
  it('yellow under 14 days, red once expired', () => {
    expect(judgeCertificate('CN=lab-01', at(13.9), at(900), 0o600, now)).toMatchObject({ level: 'warn', summary: expect.stringContaining('expires in 13 days') });
    expect(judgeCertificate('CN=lab-01', at(-1), at(900), 0o600, now)).toMatchObject({ level: 'fail', summary: expect.stringContaining('expired on') });
  });
  it('watches the CA too', () => {
    expect(judgeCertificate('CN=lab-01', at(90), at(5), 0o600, now)).toMatchObject({ level: 'warn', summary: expect.stringContaining('CA certificate') });
  });
});

describe('fixOf', () => {
  it('turns "run chmod 600 …" into the command', () => {
    expect(fixOf('config /etc/a.toml: receiver.key: /k is accessible by group or others (mode 0644); run chmod 600 /k')).toBe('chmod 600 /k');
    expect(fixOf('no fix here')).toBeNull();
  });
});

describe('parseSince', () => {
  it.each([
    ['10min', '-10min', 600],
    ['2h', '-2h', 7200],
    ['1d', '-1d', 86400],
    ['90s', '-90s', 90],
    ['45', '-45s', 45],
    ['-30m', '-30min', 1800],
    ['1week', '-1w', 604800],
  ])('%s → %s', (text, journal, seconds) => {
    expect(parseSince(text)).toMatchObject({ journal, seconds });
  });
  it.each(['', 'soon', '10 fortnights', '0min', '1.5h'])('refuses %j as a usage error', (text) => {
    expect(() => parseSince(text)).toThrow(expect.objectContaining({ code: 'SHIP_USAGE' }));
  });
});

describe('rendering', () => {
  const checks: Check[] = [
    { name: 'config', level: 'ok', summary: 'fine', fix: null },
    { name: 'journal', level: 'warn', summary: '2 episodes rejected (412)', fix: 'shipper requeue --all --status 412' },
  ];
  it('prints plain words without a terminal, the fix under its line', () => {
    expect(renderChecks(checks, false)).toEqual(['OK    config    fine', 'WARN  journal   2 episodes rejected (412)', '                fix: shipper requeue --all --status 412']);
  });
  it('colours only a terminal that wants it', () => {
    expect(renderChecks(checks, true)[0]).toBe('\x1b[32mOK   \x1b[0m config    fine');
    expect(wantsColour(true, {})).toBe(true);
    expect(wantsColour(false, {})).toBe(false);
    expect(wantsColour(true, { NO_COLOR: '1' })).toBe(false);
    expect(wantsColour(true, { TERM: 'dumb' })).toBe(false);
  });
  it('exits 1 only for red', () => {
    expect(doctorExitCode(checks)).toBe(0);
    expect(doctorExitCode([...checks, { name: 'unit', level: 'fail', summary: 'x', fix: 'y' }])).toBe(1);
  });
});

describe('verdict', () => {
  const now = Date.parse('2026-11-22T10:00:00Z');
  function snap(over: { [K in keyof Snapshot]?: Snapshot[K] extends object | null ? Partial<NonNullable<Snapshot[K]>> | null : Snapshot[K] } = {}): Snapshot {
    const base: Snapshot = {
      schema: 1,
      taken_at: new Date(now).toISOString(),
      shipper_version: '0.1.0',
      config: CFG,
      host_id: 'lab-01',
      daemon: { running: true, pid: 42, mode: 'daemon', since: '2026-11-22T09:00:00Z', seen_via: 'lock' },
      pending: { total: 0, ready: 0, settling: 0, not_ready: 0, waiting_retry: 0, will_quarantine: 0, will_quarantine_by_reason: {}, oldest_ready_id: null, oldest_ready_age_s: null },
      outbox: { archives: 0, bytes: 0 },
      shipped: 10,
      quarantined: { total: 0, by_reason: {}, by_status: {}, requeue_in_progress: 0 },
      retry: { receiver: { failures: 0, next_at: null, last_class: null, last_error: null }, next_retry_at: null },
      last_pass: { started_at: '2026-11-22T09:59:58Z', finished_at: '2026-11-22T09:59:59Z', duration_ms: 1000, shipped: 1, quarantined: 0, retried: 0, bytes: 10, outcome: 'ok' },
      last_success_at: '2026-11-22T09:59:59Z',
      last_error: null,
      folders_missing: [],
    };
    const out = { ...base } as Record<string, unknown>;
    for (const [k, v] of Object.entries(over)) {
      out[k] = v !== null && typeof v === 'object' ? { ...(base as unknown as Record<string, object>)[k], ...v } : v;
    }
    return out as unknown as Snapshot;
  }
  const failing = (cls: string, failures = 3) => ({ receiver: { failures, next_at: '2026-11-22T10:01:00Z', last_class: cls, last_error: 'x' } });

  it.each([
    ['flowing', snap(), 'ok', 'data is flowing'],
    ['flowing with a backlog', snap({ pending: { ready: 3, oldest_ready_id: 'ep-1', oldest_ready_age_s: 10 } }), 'ok', 'data is flowing (3 episodes pending, last success 1 s ago)'],
    ['no daemon and pending', snap({ daemon: { running: false, pid: null, mode: null }, pending: { ready: 12 } }), 'fail', 'no daemon is running and 12 episodes are pending'],
    ['no daemon, nothing pending', snap({ daemon: { running: false, pid: null, mode: null } }), 'warn', 'no daemon is running (nothing is pending)'],
    ['receiver unreachable', snap({ pending: { ready: 3 }, retry: failing('unreachable') }), 'warn', '3 episodes waiting for a retry (receiver unreachable, 3 failed tries; last success 1 s ago)'],
    ['credentials refused', snap({ pending: { ready: 3 }, retry: failing('auth') }), 'fail', 'the receiver refuses our credentials (3 failed tries); 3 episodes pending, last success 1 s ago'],
    ['misrouted', snap({ retry: failing('misrouted', 1) }), 'fail', 'the receiver answers as if receiver.url were wrong (1 failed try); nothing pending, last success 1 s ago'],
    ['episode retries', snap({ pending: { ready: 2, waiting_retry: 2 } }), 'warn', expect.stringMatching(/^2 episodes waiting for a retry/)],
    ['stale pass', snap({ pending: { ready: 2 }, last_pass: { finished_at: '2026-11-22T09:00:00Z' } }), 'warn', expect.stringMatching(/^2 episodes ready but the last pass ended 60 min ago/)],
    ['a manual --once', snap({ daemon: { mode: 'once', pid: 7 }, pending: { ready: 1 } }), 'ok', 'a manual --once pass is running (pid 7); 1 episode pending'],
    ['never shipped, idle', snap({ last_success_at: null }), 'ok', 'the daemon is running; nothing shipped yet and nothing pending'],
  ])('%s', (_name, s, level, message) => {
    expect(verdict(s, now)).toMatchObject({ level, message });
  });
});
