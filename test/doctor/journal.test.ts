// The journal classifier on realistic `journalctl -o json` output (test/fixtures/journal):
// our key=value lines, systemd's own lines about the unit, and the odd ones.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JournalClassifier, classifyEvent, classifyJournal, parseEventLine, presentClasses } from '../../src/doctor/journal.js';
import { deniedCheck, journalDenied, judgeJournal } from '../../src/doctor/journal-judge.js';
import { ROOT } from '../helpers/world.js';

const fixture = (name: string) => readFileSync(join(ROOT, 'test/fixtures/journal', name), 'utf8');
const ctx = { unit: 'shipper.service', since: '10min', configFile: '/etc/shipper/lab-host.toml' };

describe('parseEventLine', () => {
  it('reads plain and JSON-quoted values, with or without the journald priority prefix', () => {
    expect(parseEventLine('<4>event=quarantined episode=ep-1 as=ep-1 reason=receiver_rejected http_status=412 detail="a \\"quoted\\" thing"')).toEqual({
      event: 'quarantined',
      episode: 'ep-1',
      as: 'ep-1',
      reason: 'receiver_rejected',
      http_status: '412',
      detail: 'a "quoted" thing',
    });
    expect(parseEventLine('2026-11-22T10:00:00.000Z warn event=retry_later episode=ep-2 status=503')).toMatchObject({ event: 'retry_later', status: '503' });
    expect(parseEventLine('shipper: config /etc/x.toml: host_id: is required')).toBeNull();
  });
});

describe('classifyEvent', () => {
  it.each([
    [{ event: 'quarantined', http_status: '412' }, 'rejected_window'],
    [{ event: 'quarantined', http_status: '400' }, 'rejected_commit'],
    [{ event: 'quarantined', reason: 'unstamped' }, 'rejected_commit'],
    [{ event: 'quarantined', http_status: '409' }, 'rejected_other'],
    [{ event: 'quarantined', reason: 'invalid_meta' }, 'quarantined_local'],
    [{ event: 'pass_stopped', class: 'auth', status: '401' }, 'auth'],
    [{ event: 'pass_stopped', class: 'unreachable', kind: 'tls_client_cert' }, 'auth'],
    [{ event: 'pass_stopped', class: 'unreachable', kind: 'refused' }, 'unreachable'],
    [{ event: 'pass_stopped', class: 'misrouted', status: '404' }, 'misrouted'],
    [{ event: 'pass_stopped', class: 'transient', status: '503' }, 'transient'],
    [{ event: 'pass_stopped', class: 'disk_full' }, 'disk_full'],
    [{ event: 'pass_failed', code: 'SHIP_DISK_FULL' }, 'disk_full'],
    [{ event: 'retry_later', status: '503' }, 'transient'],
    [{ event: 'reload_refused' }, 'config_invalid'],
    [{ event: 'tls_rotation_refused' }, 'auth'],
    [{ event: 'shipped', status: '201' }, null],
    [{ event: 'daemon_ready' }, null],
  ])('%o is %s', (fields, cls) => {
    expect(classifyEvent(fields as Record<string, string>)).toBe(cls);
  });
});

describe('classifyJournal on fixtures', () => {
  it('a clean run: shipped lines, a start, no problem classes', () => {
    const s = classifyJournal(fixture('clean.jsonl'));
    expect(s.entries).toBe(8);
    expect(s.shipped).toBe(3);
    expect(s.starts).toBe(1);
    expect(presentClasses(s)).toEqual([]);
    expect(judgeJournal(s, ctx)).toEqual([{ name: 'journal', level: 'ok', summary: 'clean: 3 episodes shipped, no errors in the last 10min', fix: null }]);
  });

  it('an empty journal is a quiet OK', () => {
    const s = classifyJournal('');
    expect(s.entries).toBe(0);
    const [c] = judgeJournal(s, ctx);
    expect(c).toMatchObject({ level: 'ok', summary: expect.stringContaining('nothing logged by shipper.service in the last 10min') });
  });

  it('orders 412 before 400 before transient, whatever the order of the lines', () => {
    const s = classifyJournal(fixture('rejections.jsonl'));
    expect(presentClasses(s)).toEqual(['rejected_window', 'rejected_commit', 'transient']);
    expect(s.classes.rejected_window).toMatchObject({ count: 2, statuses: { '412': 2 }, episodes: ['ep-0001', 'ep-0002'] });
    expect(s.classes.rejected_commit).toMatchObject({ count: 2, statuses: { '400': 1 }, episodes: ['ep-0003', 'ep-0005'] });
    expect(s.classes.transient).toMatchObject({ count: 2, statuses: { '503': 1, '429': 1 } });
    const lines = judgeJournal(s, ctx);
    expect(lines.map((l) => l.level)).toEqual(['warn', 'warn', 'warn', 'ok']);
    expect(lines[0]!.summary).toMatch(/^2 episodes rejected as out of the receiver's window \(412\) in the last 10min, e\.g\. ep-0001, ep-0002$/);
    expect(lines[0]!.fix).toBe("fix the recorder's clock or the receiver's --window-days, then: shipper requeue --all --reason receiver_rejected --status 412");
    expect(lines[1]!.fix).toMatch(/shipper requeue --all --status 400/);
    expect(lines[3]!.summary).toBe('1 episode shipped in the same 10min');
  });

  it('auth refusals come before unreachable, and are red', () => {
    const s = classifyJournal(fixture('auth.jsonl'));
    expect(presentClasses(s)).toEqual(['auth', 'unreachable']);
    expect(s.classes.auth).toMatchObject({ count: 2, statuses: { '403': 2 } });
    const lines = judgeJournal(s, ctx);
    expect(lines[0]).toMatchObject({ level: 'fail', summary: '2 auth refusals (403) in the last 10min: the receiver refuses our credentials' });
    expect(lines[0]!.fix).toMatch(/shipper --ping$/);
    expect(lines[1]).toMatchObject({ level: 'warn' });
  });

  it("recognises a watchdog restart from systemd's own lines, once per kill", () => {
    const s = classifyJournal(fixture('watchdog.jsonl'));
    expect(presentClasses(s)).toEqual(['watchdog']);
    expect(s.classes.watchdog!.count).toBe(1);
    expect(s.starts).toBe(1);
    const [w] = judgeJournal(s, ctx);
    expect(w).toMatchObject({ level: 'warn', summary: '1 watchdog restart in the last 10min: the daemon stopped making progress and systemd killed it' });
  });

  it('counts a watchdog kill known only from UNIT_RESULT (the timeout line rotated away)', () => {
    const only = fixture('watchdog.jsonl')
      .split('\n')
      .filter((l) => !l.includes('Watchdog timeout'))
      .join('\n');
    const s = classifyJournal(only);
    expect(s.classes.watchdog!.count).toBe(1);
    // Without the timeout line, the SIGABRT exit is not known to be the watchdog's: it shows too.
    expect(presentClasses(s)).toEqual(['watchdog', 'crashed']);
  });

  it('a broken config at start is one configuration class, first and red', () => {
    const s = classifyJournal(fixture('config.jsonl'));
    expect(presentClasses(s)).toEqual(['config_invalid']);
    expect(s.classes.config_invalid!.count).toBe(2); // our line and systemd's exit status 78
    const [c] = judgeJournal(s, ctx);
    expect(c).toMatchObject({ level: 'fail' });
    expect(c!.summary).toMatch(/ship\.scan_interval: unknown key/);
    expect(c!.fix).toBe('shipper check-config; fix what it names, then: sudo systemctl restart shipper.service');
  });

  it('reads byte-array messages, skips null ones, and counts foreign error lines', () => {
    const s = classifyJournal(fixture('odd.jsonl'));
    expect(s.entries).toBe(4);
    expect(s.shipped).toBe(1);
    expect(presentClasses(s)).toEqual(['other_errors']);
    expect(s.classes.other_errors!.count).toBe(2);
    expect(s.classes.other_errors!.example).toMatch(/ERR_MODULE_NOT_FOUND/);
  });

  it('mixing every fixture puts the blocking classes first', () => {
    const all = ['watchdog.jsonl', 'rejections.jsonl', 'odd.jsonl', 'auth.jsonl', 'config.jsonl'].map(fixture).join('\n');
    expect(presentClasses(classifyJournal(all))).toEqual(['config_invalid', 'auth', 'rejected_window', 'rejected_commit', 'watchdog', 'unreachable', 'transient', 'other_errors']);
  });

  it('ignores lines that are not JSON objects (a pager banner, a truncated line)', () => {
    const c = new JournalClassifier();
    c.add('-- No entries --');
    c.add('{"MESSAGE":"event=shipped episode=ep-1 status=201"');
    c.add('');
    expect(c.summary().entries).toBe(0);
  });
});

describe('journal access', () => {
  it.each([
    'Hint: You are currently not seeing messages from other users and the system.\n      Users in groups \'adm\', \'systemd-journal\' can see all messages.',
    'No journal files were opened due to insufficient permissions.',
    'Failed to open journal: Permission denied',
  ])('recognises a refusal: %s', (stderr) => {
    expect(journalDenied(stderr)).toBe(true);
    expect(deniedCheck(stderr)).toMatchObject({ level: 'warn', fix: 'sudo usermod -aG systemd-journal $USER (then log in again), or run: sudo shipper doctor' });
  });

  it('does not take other failures for a refusal', () => {
    expect(journalDenied('Failed to parse timestamp: -10 fortnights')).toBe(false);
    expect(journalDenied('')).toBe(false);
  });
});
