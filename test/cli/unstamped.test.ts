// `shipper quarantine-unstamped` end to end: a one-shot, idempotent drain of episodes
// without a 40-hex code_version.commit, safe next to a running daemon.

import { readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockPass } from '../../src/queue/lock.js';
import type { World } from '../helpers/world.js';
import { eventually, makeFolders, quarantined, perTest } from '../doctor/helpers.js';

const t = perTest();

/** A mixed episodes/ folder; settle_s = 30. */
async function mixed(world: World): Promise<void> {
  await world.writeConfig({ 'ship.settle_s': 30 });
  await world.makeEpisode('ep-stamped');
  await world.makeEpisode('ep-nocommit', {}, { meta: { episode_id: 'ep-nocommit', code_version: { dirty: true } } });
  await world.makeEpisode('ep-shortcommit', {}, { meta: { episode_id: 'ep-shortcommit', code_version: { commit: 'abc123' } } });
  await world.makeEpisode('ep-nometa-old', { 'a.bin': 'x' }, { meta: null });
  const old = new Date(Date.now() - 120_000);
  await utimes(join(world.episodes, 'ep-nometa-old'), old, old);
  await world.makeEpisode('ep-nometa-young', { 'a.bin': 'x' }, { meta: null });
  await world.makeEpisode('ep-badjson', {}, { meta: '{"episode_id": ' });
  await world.makeEpisode('.tmp-recording', {}, { meta: { episode_id: 'x' } });
  await world.makeEpisode('not an id', {}, { meta: { episode_id: 'x' } });
}

describe('shipper quarantine-unstamped', () => {
  it('--dry-run lists what it would move and moves nothing', async () => {
    const w = await t.world({ receiver: false });
    await makeFolders(w);
    await mixed(w);
    const before = await w.list(w.episodes);
    const r = await w.run(['quarantine-unstamped', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toEqual([
      'would quarantine ep-nocommit: meta.json has no 40-hex code_version.commit (quarantine-unstamped)',
      'would quarantine ep-nometa-old: no meta.json (quarantine-unstamped)',
      'would quarantine ep-shortcommit: meta.json has no 40-hex code_version.commit (quarantine-unstamped)',
      'would quarantine 3 episodes (dry run: nothing moved); 1 stamped',
      'left 1 folder without meta.json that changed less than ship.settle_s ago (a recorder may still be writing)',
      'left 1 folder whose meta.json is not valid JSON (the daemon quarantines those as invalid_meta)',
      'left 1 folder whose name is not an episode id (the daemon quarantines those as invalid_episode_id)',
      '',
    ]);
    expect(await w.list(w.episodes)).toEqual(before);
    expect(await w.list(w.quarantine)).toEqual([]);
  });

  it('quarantines the unstamped with reason unstamped, leaves the rest, suffixes a clash, and is idempotent', async () => {
    const w = await t.world({ receiver: false });
    await makeFolders(w);
    await mixed(w);
    await quarantined(w, 'ep-nocommit', { reason: 'receiver_rejected', httpStatus: 400 }); // an older copy
    const r = await w.run(['quarantine-unstamped']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^quarantined ep-nocommit \(as ep-nocommit~2\): meta\.json has no 40-hex/m);
    expect(r.stdout).toMatch(/^quarantined 3 episodes; 1 stamped$/m);
    expect(await w.list(w.quarantine)).toEqual(['ep-nocommit', 'ep-nocommit~2', 'ep-nometa-old', 'ep-shortcommit']);
    expect(await w.list(w.episodes)).toEqual(['.tmp-recording', 'ep-badjson', 'ep-nometa-young', 'ep-stamped', 'not an id']);
    const reason = JSON.parse(await readFile(join(w.quarantine, 'ep-nometa-old', 'quarantine_reason.json'), 'utf8')) as Record<string, unknown>;
    expect(reason).toMatchObject({ episode_id: 'ep-nometa-old', host_id: 'lab-01', reason: 'unstamped', http_status: null, detail: 'no meta.json (quarantine-unstamped)' });
    expect(await readFile(join(w.quarantine, 'ep-nometa-old', 'a.bin'), 'utf8')).toBe('x');
    // The older copy keeps its own reason.
    expect(JSON.parse(await readFile(join(w.quarantine, 'ep-nocommit', 'quarantine_reason.json'), 'utf8'))).toMatchObject({ http_status: 400 });

    const again = await w.run(['quarantine-unstamped']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^quarantined 0 episodes; 1 stamped$/m);
    expect(await w.list(w.quarantine)).toHaveLength(4);

    // What it quarantined can be requeued once stamped.
    const back = await w.run(['requeue', '--all', '--reason', 'unstamped']);
    expect(back.stdout).toMatch(/^requeued 3, refused 0$/m);
  });

  it('on empty folders, and before the daemon ever ran, moves nothing and exits 0', async () => {
    const w = await t.world({ receiver: false });
    const fresh = await w.run(['quarantine-unstamped']);
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toMatch(/^nothing to do: .* does not exist yet/);
    await makeFolders(w);
    const empty = await w.run(['quarantine-unstamped']);
    expect(empty).toMatchObject({ code: 0, stdout: 'quarantined 0 episodes; 0 stamped\n' });
  });

  it('waits for a pass in progress, saying so, before it moves anything', async () => {
    const w = await t.world({ receiver: false });
    await makeFolders(w);
    await w.makeEpisode('ep-1', {}, { meta: { episode_id: 'ep-1' } });
    const held = await lockPass(w.state, 'test-pass');
    const child = w.spawn(['quarantine-unstamped']);
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout!.resume();
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    await eventually(async () => err.includes("waiting for the daemon's pass to finish"), 10_000, 'the waiting message');
    expect(await w.list(w.quarantine)).toEqual([]);
    await held.release();
    expect(await exited).toBe(0);
    expect(await w.list(w.quarantine)).toEqual(['ep-1']);
  });

  it('next to a running daemon (receiver down, so nothing ships meanwhile): drains, and the daemon lives on', async () => {
    const w = await t.world();
    await w.stopReceiver();
    const daemon = await t.daemon(w);
    await w.makeEpisode('ep-a', {}, { meta: { episode_id: 'ep-a' } });
    await w.makeEpisode('ep-b');
    await daemon.waitFor(/event=pass_stopped class=unreachable/);
    const r = await w.run(['quarantine-unstamped']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^quarantined 1 episode; 1 stamped$/m);
    expect(await w.list(w.quarantine)).toEqual(['ep-a']);
    expect(await w.list(w.episodes)).toEqual(['ep-b']);
    expect(daemon.child.exitCode).toBeNull();
  });

  it('a missing or broken config is exit 78', async () => {
    const w = await t.world({ receiver: false });
    const missing = await w.run(['quarantine-unstamped', '--config', join(w.dir, 'absent.toml')]);
    expect(missing.code).toBe(78);
    expect(missing.stderr).toMatch(/absent\.toml: cannot read the file \(ENOENT\)/);
    await w.writeConfig({ 'ship.settle_s': 'ten' });
    const broken = await w.run(['quarantine-unstamped', '--dry-run']);
    expect(broken.code).toBe(78);
    expect(broken.stderr).toMatch(/ship\.settle_s: must be a number, not a string/);
  });
});
