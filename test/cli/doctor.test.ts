// `shipper doctor` end to end: the real CLI with fake `systemctl` and `journalctl` programs
// first on PATH (serving the fixtures in test/fixtures/journal), against the real receiver.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, type RunResult, type World } from '../helpers/world.js';
import { RUNNING_UNIT, fakeBin, makeFolders, perTest } from '../doctor/helpers.js';

const FIXTURES = join(ROOT, 'test/fixtures/journal');

const t = perTest();

interface Line {
  level: string;
  name: string;
  summary: string;
  fix: string | null;
}

/** The check lines of a human doctor report (with the fix line folded into its check). */
function lines(r: RunResult): Line[] {
  const out: Line[] = [];
  for (const l of r.stdout.split('\n')) {
    const m = /^(OK|WARN|FAIL|SKIP) +(\S+) +(.*)$/.exec(l);
    if (m) out.push({ level: m[1]!, name: m[2]!, summary: m[3]!, fix: null });
    const f = /^ +fix: (.*)$/.exec(l);
    if (f) out[out.length - 1]!.fix = f[1]!;
  }
  return out;
}

const byName = (ls: Line[], name: string) => ls.filter((l) => l.name === name);

async function bins(world: World, o: { unit?: string; journal?: string[]; journalStderr?: string; journalCode?: number; unitCode?: number; unitStderr?: string }) {
  const dir = join(world.dir, 'bin');
  await fakeBin(dir, 'systemctl', { stdout: o.unit ?? RUNNING_UNIT, code: o.unitCode ?? 0, ...(o.unitStderr ? { stderr: o.unitStderr } : {}) });
  let cat: string | undefined;
  if (o.journal) {
    cat = join(world.dir, 'journal.jsonl');
    await writeFile(cat, (await Promise.all(o.journal.map((f) => readFile(join(FIXTURES, f), 'utf8')))).join(''));
  }
  await fakeBin(dir, 'journalctl', { ...(cat ? { cat } : {}), ...(o.journalStderr ? { stderr: o.journalStderr } : {}), code: o.journalCode ?? 0 });
  return {
    env: { PATH: `${dir}:${process.env.PATH ?? ''}` },
    args: async (name: string) => (await readFile(join(dir, `${name}.args`), 'utf8').catch(() => '')).trim().split('\n'),
  };
}

describe('shipper doctor', () => {
  it('next to a running daemon with a clean journal: nothing red, exit 0, plain words when piped, and the right questions asked', async () => {
    const w = await t.world();
    await t.daemon(w);
    const b = await bins(w, { journal: ['clean.jsonl'] });
    const r = await w.run(['doctor'], { env: b.env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.includes('\x1b')).toBe(false);
    expect(r.stdout.split('\n')[0]).toBe(`shipper doctor: ${w.configFile}, unit shipper.service, journal of the last 10min`);
    const ls = lines(r);
    expect(ls.map((l) => l.name)).toEqual(['config', 'certificates', 'receiver', 'folders', 'disk', 'queue', 'unit', 'journal']);
    expect(ls.every((l) => l.level !== 'FAIL')).toBe(true);
    expect(byName(ls, 'config')[0]).toMatchObject({ level: 'OK', summary: `${w.configFile} is valid (host lab-01, receiver ${w.url})` });
    expect(byName(ls, 'certificates')[0]!.summary).toMatch(/^client certificate CN=lab-01 (valid for \d+ more days|expires in \d+ days?) \(.*\); key mode 0600$/);
    expect(byName(ls, 'receiver')[0]).toMatchObject({ level: 'OK', summary: expect.stringMatching(/answered the ping with 200 in \d+ ms$/) });
    expect(byName(ls, 'folders')[0]).toMatchObject({ level: 'OK' });
    expect(byName(ls, 'queue')[0]).toMatchObject({ level: 'OK' });
    expect(byName(ls, 'unit')[0]).toMatchObject({ level: 'OK', summary: 'shipper.service is active (running)' });
    expect(byName(ls, 'journal')[0]).toMatchObject({ level: 'OK', summary: 'clean: 3 episodes shipped, no errors in the last 10min' });
    for (const l of ls.filter((x) => x.level === 'WARN')) expect(l.fix).not.toBeNull();
    expect(await b.args('systemctl')).toEqual(['show shipper.service -p LoadState,ActiveState,SubState,NRestarts,Result,ExecMainStatus --no-pager']);
    expect(await b.args('journalctl')).toEqual(['-u shipper.service -o json --since=-10min --no-pager']);
    expect(r.stdout.trimEnd().split('\n').pop()).toMatch(/^0 failed, \d+ warnings?, \d+ ok$|^all 8 checks passed$/);
  });

  it('puts the most actionable journal class first (auth, 412, 400, then what heals itself), exits 1 on red, and passes --since and --unit on', async () => {
    const w = await t.world();
    await makeFolders(w);
    const b = await bins(w, { journal: ['rejections.jsonl', 'auth.jsonl'] });
    const r = await w.run(['doctor', '--since', '2h', '--unit', 'lab-shipper.service'], { env: b.env });
    expect(r.code).toBe(1);
    const journal = byName(lines(r), 'journal');
    expect(journal.map((l) => [l.level, l.summary.split(' in the last')[0]])).toEqual([
      ['FAIL', '2 auth refusals (403)'],
      ['WARN', "2 episodes rejected as out of the receiver's window (412)"],
      ['WARN', '2 episodes rejected by the commit gate (400)'],
      ['WARN', '1 failed attempt to reach the receiver'],
      ['WARN', '2 transient failures (429 ×1, 503 ×1)'],
      ['OK', '1 episode shipped in the same 2h'],
    ]);
    expect(journal[1]!.fix).toBe(`fix the recorder's clock or the receiver's --window-days, then: shipper requeue --config ${w.configFile} --all --reason receiver_rejected --status 412`);
    expect(await b.args('journalctl')).toEqual(['-u lab-shipper.service -o json --since=-2h --no-pager']);
    expect((await b.args('systemctl'))[0]).toMatch(/^show lab-shipper\.service /);
  });

  it('--json gives every check with its level and fix', async () => {
    const w = await t.world();
    await makeFolders(w);
    const b = await bins(w, { journal: ['rejections.jsonl'] });
    const r = await w.run(['doctor', '--json'], { env: b.env });
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { exit_code: number; unit: string; since: string; checks: { name: string; level: string; summary: string; fix: string | null }[] };
    expect(j).toMatchObject({ exit_code: 0, unit: 'shipper.service', since: '10min' });
    expect(j.checks.find((c) => c.name === 'journal')).toMatchObject({ level: 'warn', fix: expect.stringContaining('--status 412') });
    expect(j.checks.find((c) => c.name === 'unit')).toEqual({ name: 'unit', level: 'ok', summary: 'shipper.service is active (running)', fix: null });
  });

  it('a watchdog restart in the journal and a unit failed by the watchdog: red, with what to run', async () => {
    const w = await t.world();
    await makeFolders(w);
    const b = await bins(w, { journal: ['watchdog.jsonl'], unit: 'LoadState=loaded\nActiveState=failed\nSubState=failed\nNRestarts=5\nResult=watchdog\nExecMainStatus=0\n' });
    const r = await w.run(['doctor'], { env: b.env });
    expect(r.code).toBe(1);
    const ls = lines(r);
    expect(byName(ls, 'unit')[0]).toEqual({ level: 'FAIL', name: 'unit', summary: 'shipper.service has failed, result watchdog', fix: 'journalctl -u shipper.service --since=-1h to see what stalled, then: sudo systemctl restart shipper.service' });
    expect(byName(ls, 'journal')[0]).toMatchObject({ level: 'WARN', summary: '1 watchdog restart in the last 10min: the daemon stopped making progress and systemd killed it' });
  });

  it('journalctl not permitted: yellow, with the group to join or sudo', async () => {
    const w = await t.world();
    await makeFolders(w);
    const hint = "Hint: You are currently not seeing messages from other users and the system.\n      Users in groups 'adm', 'systemd-journal' can see all messages.\n      Pass -q to turn off this notice.";
    const b = await bins(w, { journalStderr: hint });
    const r = await w.run(['doctor'], { env: b.env });
    expect(r.code).toBe(0);
    expect(byName(lines(r), 'journal')).toEqual([
      {
        level: 'WARN',
        name: 'journal',
        summary: 'journalctl may not read the system journal as this user (Hint: You are currently not seeing messages from other users and the system.)',
        fix: 'sudo usermod -aG systemd-journal $USER (then log in again), or run: sudo shipper doctor',
      },
    ]);
  });

  it('without systemctl and journalctl (a container): SKIP, not red', async () => {
    const w = await t.world();
    await makeFolders(w);
    const empty = join(w.dir, 'empty-bin');
    await fakeBin(empty, 'unrelated', {});
    const r = await w.run(['doctor'], { env: { PATH: empty } });
    expect(r.code).toBe(0);
    const ls = lines(r);
    expect(byName(ls, 'unit')[0]).toMatchObject({ level: 'SKIP', summary: 'systemctl is not installed here; the unit was not checked' });
    expect(byName(ls, 'journal')[0]).toMatchObject({ level: 'SKIP', summary: 'journalctl is not installed here; the journal was not read' });
  });

  it('systemd not running (systemctl present but PID 1 is not systemd): SKIP', async () => {
    const w = await t.world();
    await makeFolders(w);
    const b = await bins(w, { unit: '', unitCode: 1, unitStderr: 'System has not been booted with systemd as init system (PID 1). Can\'t operate.' });
    const r = await w.run(['doctor'], { env: b.env });
    expect(r.code).toBe(0);
    expect(byName(lines(r), 'unit')[0]!.level).toBe('SKIP');
  });

  it('the receiver down: red, with the command to try again', async () => {
    const w = await t.world();
    await makeFolders(w);
    await w.stopReceiver();
    const b = await bins(w, {});
    const r = await w.run(['doctor'], { env: b.env });
    expect(r.code).toBe(1);
    expect(byName(lines(r), 'receiver')[0]).toMatchObject({
      level: 'FAIL',
      summary: expect.stringMatching(/^nothing is listening at https:\/\/127\.0\.0\.1:\d+ \(connection refused\)/),
      fix: `start the receiver or fix the path to it, then: shipper --ping --config ${w.configFile}`,
    });
    expect(byName(lines(r), 'journal')[0]).toMatchObject({ level: 'OK', summary: 'nothing logged by shipper.service in the last 10min (an idle daemon is quiet)' });
  });

  it('a key readable by others: red, with the chmod that fixes it, and no ping', async () => {
    const w = await t.world();
    await makeFolders(w);
    const { chmod, copyFile } = await import('node:fs/promises');
    const key = join(w.dir, 'client.key');
    await copyFile(w.pki.client.key, key);
    await chmod(key, 0o644);
    await w.writeConfig({ 'receiver.key': key });
    const b = await bins(w, {});
    const r = await w.run(['doctor'], { env: b.env });
    expect(r.code).toBe(1);
    const ls = lines(r);
    expect(byName(ls, 'certificates')[0]).toMatchObject({ level: 'FAIL', fix: `chmod 600 ${key}` });
    expect(byName(ls, 'certificates')[0]!.summary).toMatch(/^receiver\.key: .*client\.key is accessible by group or others \(mode 0644\)$/); // the config line names the file
    expect(byName(ls, 'receiver')[0]).toMatchObject({ level: 'SKIP' });
  });

  it('on a fresh host whose folders the daemon has not created yet: yellow, not red, with how to create them', async () => {
    const w = await t.world();
    const b = await bins(w, { unit: 'LoadState=loaded\nActiveState=inactive\nSubState=dead\nNRestarts=0\nResult=success\nExecMainStatus=0\n' });
    const r = await w.run(['doctor'], { env: b.env });
    const ls = lines(r);
    expect(byName(ls, 'folders')[0]).toMatchObject({ level: 'WARN', summary: expect.stringMatching(/^not created yet: .*\/outbox/), fix: 'sudo systemctl start shipper (the daemon creates them at start)' });
    expect(byName(ls, 'queue')[0]).toMatchObject({ level: 'WARN', summary: 'no daemon is running (nothing is pending)', fix: 'sudo systemctl enable --now shipper.service' });
    expect(byName(ls, 'unit')[0]).toMatchObject({ level: 'FAIL', summary: 'shipper.service is not running (inactive (dead))', fix: 'sudo systemctl enable --now shipper.service' });
    expect(r.code).toBe(1);
  });

  it('a missing config: exit 78, the config line red, and still the unit and the journal, which say why', async () => {
    const w = await t.world({ receiver: false });
    const b = await bins(w, { journal: ['config.jsonl'], unit: 'LoadState=loaded\nActiveState=failed\nSubState=failed\nNRestarts=0\nResult=exit-code\nExecMainStatus=78\n' });
    const missing = join(w.dir, 'nope.toml');
    const r = await w.run(['doctor', '--config', missing], { env: b.env });
    expect(r.code).toBe(78);
    const ls = lines(r);
    expect(ls[0]).toMatchObject({ level: 'FAIL', name: 'config', summary: `config ${missing}: cannot read the file (ENOENT)` });
    expect(ls[0]!.fix).toMatch(/^create it from lab-host\.toml\.example.*; then: shipper check-config --config /);
    expect(ls.slice(1, 6).map((l) => l.level)).toEqual(['SKIP', 'SKIP', 'SKIP', 'SKIP', 'SKIP']);
    expect(byName(ls, 'unit')[0]).toMatchObject({ level: 'FAIL', summary: 'shipper.service has failed, result exit-code, exit status 78 (configuration invalid)' });
    expect(byName(ls, 'journal')[0]).toMatchObject({ level: 'FAIL', summary: expect.stringMatching(/^2 configuration refusals in the last 10min: shipper: config \/etc\/shipper\/lab-host\.toml: ship\.scan_interval: unknown key/) });
  });

  it('a broken config: exit 78 naming the key', async () => {
    const w = await t.world({ receiver: false });
    await w.writeConfig({ 'receiver.url': 'http://receiver.lab' });
    const b = await bins(w, {});
    const r = await w.run(['doctor'], { env: b.env });
    expect(r.code).toBe(78);
    expect(lines(r)[0]).toMatchObject({ level: 'FAIL', summary: expect.stringMatching(/receiver\.url: must use https, not http$/) });
  });

  it('a --since that is not a time span is a usage error (exit 2)', async () => {
    const w = await t.world({ receiver: false });
    const r = await w.run(['doctor', '--since', 'yesterday']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--since "yesterday" is not a time span; use e\.g\. 10min, 2h, 1d/);
  });
});
