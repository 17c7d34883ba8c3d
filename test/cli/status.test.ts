// `shipper status` end to end: the real CLI on real folders, alone and next to a running
// daemon, read-only, from the folders and state/ only.

import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Snapshot } from '../../src/doctor/snapshot.js';
import type { Verdict } from '../../src/doctor/verdict.js';
import { defaultMeta, type World } from '../helpers/world.js';
import { makeFolders, quarantined, perTest } from '../doctor/helpers.js';

const t = perTest();

async function statusJson(world: World): Promise<Snapshot & { verdict: Verdict }> {
  const r = await world.run(['status', '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Snapshot & { verdict: Verdict };
}

describe('shipper status', () => {
  it('on a fresh host with no folders yet: no daemon, nothing pending, exit 0', async () => {
    const w = await t.world({ receiver: false });
    const r = await w.run(['status']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('WARN: no daemon is running (nothing is pending)');
    expect(r.stdout).toMatch(/^pending +0 ready$/m);
    expect(r.stdout).toMatch(/^last success never$/m);
    expect(r.stdout).toMatch(/^not created +.*\/outbox.* \(the daemon creates them at start\)$/m);
    const j = await statusJson(w);
    expect(j.verdict).toEqual({ level: 'warn', code: 'no_daemon', message: 'no daemon is running (nothing is pending)' });
    expect(j.daemon).toEqual({ running: false, pid: null, mode: null, since: null, seen_via: null });
    expect(j.pending.total).toBe(0);
    expect(j.folders_missing).toEqual([w.outbox, w.shipped, w.quarantine, w.state]);
  });

  it('counts pending by readiness, what the next pass quarantines, the outbox, shipped and quarantine by reason and status', async () => {
    const w = await t.world({ receiver: { windowDays: 7 } });
    await w.makeEpisode('ep-ship');
    await w.makeEpisode('ep-old', {}, { meta: { ...defaultMeta('ep-old'), ended_at: '2020-01-01T00:00:00Z' } });
    expect((await w.run(['--once'])).code).toBe(0); // ships ep-ship, quarantines ep-old with 412
    await w.writeConfig({ 'ship.settle_s': 30, 'ship.require_code_version': true });
    await w.makeEpisode('ep-ready-1', {}, { ageMs: 120_000 });
    await w.makeEpisode('ep-ready-2', {}, { ageMs: 60_000 });
    await w.makeEpisode('ep-settling', {}, { ageMs: 1_000 });
    await w.makeEpisode('ep-recording', {}, { meta: null });
    await w.makeEpisode('ep-unstamped', {}, { meta: { episode_id: 'ep-unstamped' } });
    await w.makeEpisode('.tmp-ep-9', {});
    await quarantined(w, 'ep-local', { reason: 'invalid_meta', detail: 'meta.json is not valid JSON' });
    await writeFile(join(w.outbox, 'ep-ready-1.tar.zst'), Buffer.alloc(1234));
    const before = await readdir(w.episodes);

    const j = await statusJson(w);
    expect(j.pending).toEqual({
      total: 4,
      ready: 2,
      settling: 1,
      not_ready: 1,
      waiting_retry: 0,
      will_quarantine: 1,
      will_quarantine_by_reason: { unstamped: 1 },
      oldest_ready_id: 'ep-ready-1',
      oldest_ready_age_s: expect.any(Number),
    });
    expect(j.pending.oldest_ready_age_s).toBeGreaterThanOrEqual(119);
    expect(j.outbox).toEqual({ archives: 1, bytes: 1234 });
    expect(j.shipped).toBe(1);
    expect(j.quarantined).toEqual({ total: 2, by_reason: { receiver_rejected: 1, invalid_meta: 1 }, by_status: { '412': 1 }, requeue_in_progress: 0 });
    expect(j.last_pass).toMatchObject({ shipped: 1, quarantined: 1, outcome: 'ok' });
    expect(Date.parse(j.last_success_at!)).toBeGreaterThan(Date.now() - 60_000);
    expect(j.last_error).toMatchObject({ class: 'quarantined:receiver_rejected' });
    expect(j.verdict).toMatchObject({ level: 'fail', code: 'no_daemon_pending', message: 'no daemon is running and 3 episodes are pending' });

    const human = await w.run(['status']);
    expect(human.stdout.split('\n')[0]).toBe('FAIL: no daemon is running and 3 episodes are pending');
    expect(human.stdout).toMatch(/^pending +2 ready, 1 settling, 1 not ready yet; oldest ready: ep-ready-1, waiting 2 min$/m);
    expect(human.stdout).toMatch(/^ +1 folder will be quarantined at the next pass \(unstamped 1\)$/m);
    expect(human.stdout).toMatch(/^quarantined +2: invalid_meta 1, receiver_rejected 1; by HTTP status: 412 1$/m);
    expect(human.stdout).toMatch(/^in outbox +1 archive, 1\.2 kB$/m);
    for (const line of human.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(160);
    // Read-only: nothing moved, no lock file, no state written.
    expect(await readdir(w.episodes)).toEqual(before);
    expect(await w.list(w.state)).not.toContain('lock');
  });

  it('while the daemon runs: names its pid, takes no lock, and the daemon goes on shipping', async () => {
    const w = await t.world();
    const daemon = await t.daemon(w);
    const j = await statusJson(w);
    expect(j.daemon).toMatchObject({ running: true, pid: daemon.child.pid, mode: 'daemon', seen_via: 'lock' });
    expect(j.verdict.level).toBe('ok');
    const human = await w.run(['status']);
    expect(human.stdout).toMatch(new RegExp(`^daemon +running, pid ${daemon.child.pid}, since `, 'm'));
    // The daemon still works after status looked (status took neither lock).
    await w.makeEpisode('ep-after');
    await daemon.waitFor(/event=shipped episode=ep-after/);
    const after = await statusJson(w);
    expect(after.shipped).toBe(1);
    expect(after.verdict).toMatchObject({ level: 'ok', code: 'flowing', message: 'data is flowing' });
  });

  it('with the receiver down under a running daemon: WARN, the episodes waiting and the next retry', async () => {
    const w = await t.world();
    await w.stopReceiver();
    await w.writeConfig({ 'retry.initial_s': 30, 'retry.max_s': 60 });
    const daemon = await t.daemon(w);
    await w.makeEpisode('ep-1');
    await w.makeEpisode('ep-2');
    await daemon.waitFor(/event=pass_stopped class=unreachable/);
    const j = await statusJson(w);
    expect(j.verdict).toMatchObject({ level: 'warn', code: 'receiver_failing' });
    expect(j.verdict.message).toMatch(/^2 episodes waiting for a retry \(receiver unreachable, 1 failed try; never shipped yet\)$/);
    expect(j.retry.receiver).toMatchObject({ failures: 1, last_class: 'unreachable' });
    expect(Date.parse(j.retry.next_retry_at!)).toBeGreaterThan(Date.now());
    const human = await w.run(['status']);
    expect(human.stdout).toMatch(/^next retry +\S+ \(in \d+ s\); the receiver: unreachable$/m);
    expect(human.stdout).toMatch(/^last error +\S+ \(\d+ s ago\) unreachable$/m);
  });

  it('shows a requeue cut short', async () => {
    const w = await t.world({ receiver: false });
    await makeFolders(w);
    await w.makeEpisode('.requeue-ep-7', {}, { under: w.quarantine });
    const j = await statusJson(w);
    expect(j.quarantined).toMatchObject({ total: 0, requeue_in_progress: 1 });
  });

  it('a missing config is exit 78 naming the file', async () => {
    const w = await t.world({ receiver: false });
    const r = await w.run(['status', '--config', join(w.dir, 'nope.toml')]);
    expect(r.code).toBe(78);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^shipper: config .*\/nope\.toml: cannot read the file \(ENOENT\); create it from lab-host\.toml\.example/);
  });

  it('a broken config is exit 78 naming the key', async () => {
    const w = await t.world({ receiver: false });
    await w.writeConfig({ 'ship.scan_interval': 5 });
    const r = await w.run(['status', '--json']);
    expect(r.code).toBe(78);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/ship\.scan_interval: unknown key; did you mean ship\.scan_interval_s\?/);
  });

  it('needs neither the key nor a valid certificate (an operator who cannot read the key still gets the queue)', async () => {
    const w = await t.world({ receiver: false });
    await w.writeConfig({ 'receiver.key': join(w.dir, 'missing.key'), 'receiver.cert': join(w.dir, 'missing.pem') });
    const r = await w.run(['status']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^WARN: no daemon is running/);
    expect(await readFile(w.configFile, 'utf8')).toMatch(/missing\.key/);
  });
});
