// `shipper requeue` end to end: quarantined episodes go back to episodes/ under their id,
// without their reason file, crash-safely and under the pass lock, and ship again.

import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockPass } from '../../src/queue/lock.js';
import { makeWorld, type World } from '../helpers/world.js';
import { eventually, makeFolders, quarantined, perTest } from '../doctor/helpers.js';

const t = perTest();

async function world(options: Parameters<typeof makeWorld>[0] = {}): Promise<World> {
  const w = await t.world(options);
  await makeFolders(w);
  return w;
}

describe('shipper requeue ID...', () => {
  it('moves the folder back under its id (suffix stripped), drops the reason file, keeps the files, and --once ships it', async () => {
    const w = await world();
    await quarantined(w, 'ep-1', { reason: 'receiver_rejected', httpStatus: 412, detail: 'outside the window' }, { 'data.bin': 'one', 'sub/x.txt': 'two' });
    await quarantined(w, 'ep-2~2', { reason: 'receiver_rejected', httpStatus: 400 });
    const r = await w.run(['requeue', 'ep-1', 'ep-2~2']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('requeued ep-1 (was receiver_rejected 412)\nrequeued ep-2~2 as ep-2 (was receiver_rejected 400)\nrequeued 2, refused 0\n');
    expect(await w.list(w.quarantine)).toEqual([]);
    expect(await w.list(w.episodes)).toEqual(['ep-1', 'ep-2']);
    expect((await readdir(join(w.episodes, 'ep-1'))).sort()).toEqual(['data.bin', 'meta.json', 'sub']);
    expect(await readFile(join(w.episodes, 'ep-1', 'sub/x.txt'), 'utf8')).toBe('two');

    const once = await w.run(['--once']);
    expect(once.code).toBe(0);
    expect(await w.list(w.shipped)).toEqual(['ep-1', 'ep-2']);
    expect(await w.stored()).toEqual(['ep-1.tar.zst', 'ep-2.tar.zst']);
  });

  it('accepts the path forms a shell completes (quarantine/ep-1/)', async () => {
    const w = await world({ receiver: false });
    await quarantined(w, 'ep-1', { reason: 'unstamped' });
    const r = await w.run(['requeue', join(w.quarantine, 'ep-1') + '/']);
    expect(r.code).toBe(0);
    expect(await w.list(w.episodes)).toEqual(['ep-1']);
  });

  it('refuses per id (clash in episodes/, not an id, not in quarantine), still moves the others, exit 1', async () => {
    const w = await world({ receiver: false });
    await quarantined(w, 'ep-ok', { reason: 'too_large' });
    await quarantined(w, 'ep-dup~2', { reason: 'receiver_rejected', httpStatus: 409 });
    await w.makeEpisode('ep-dup');
    await quarantined(w, 'bad id!', { reason: 'invalid_episode_id' });
    const r = await w.run(['requeue', 'ep-dup~2', 'bad id!', 'ep-missing', 'ep-ok', '../episodes/ep-dup', 'typo id!']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('requeued ep-ok (was too_large)\nrequeued 1, refused 5\n');
    const err = r.stderr.split('\n');
    expect(err[0]).toMatch(/^refused ep-dup~2: .*\/episodes\/ep-dup already exists; let that one ship \(or move it away\) and requeue ep-dup~2 again$/);
    expect(err[1]).toMatch(/^refused bad id!: "bad id!" is not an episode id .*; rename the folder in .*\/quarantine to a valid id first/);
    expect(err[2]).toMatch(/^refused ep-missing: not in .*\/quarantine$/);
    expect(err[3]).toMatch(/^refused \.\.\/episodes\/ep-dup: not in .*\/quarantine$/);
    expect(err[4]).toMatch(/^refused typo id!: not in .*\/quarantine$/);
    expect(await w.list(w.quarantine)).toEqual(['bad id!', 'ep-dup~2']);
    expect(await w.list(w.episodes)).toEqual(['ep-dup', 'ep-ok']);
    // The refused ones keep their reason files.
    expect(JSON.parse(await readFile(join(w.quarantine, 'ep-dup~2', 'quarantine_reason.json'), 'utf8'))).toMatchObject({ http_status: 409 });
  });
});

describe('shipper requeue --all', () => {
  it('filters by --reason and --status, skips names that are not ids without failing', async () => {
    const w = await world({ receiver: false });
    await quarantined(w, 'ep-412a', { reason: 'receiver_rejected', httpStatus: 412 });
    await quarantined(w, 'ep-412b', { reason: 'receiver_rejected', httpStatus: 412 });
    await quarantined(w, 'ep-400', { reason: 'receiver_rejected', httpStatus: 400 });
    await quarantined(w, 'ep-unstamped', { reason: 'unstamped' });
    await quarantined(w, 'no id', { reason: 'invalid_episode_id' });

    const r412 = await w.run(['requeue', '--all', '--reason', 'receiver_rejected', '--status', '412']);
    expect(r412.code).toBe(0);
    expect(r412.stdout).toMatch(/^requeued 2, refused 0$/m);
    expect(await w.list(w.episodes)).toEqual(['ep-412a', 'ep-412b']);

    const none = await w.run(['requeue', '--all', '--status', '503']);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('nothing in quarantine matches\n');

    const rest = await w.run(['requeue', '--all']);
    expect(rest.code).toBe(0);
    expect(rest.stdout).toMatch(/^requeued 2, refused 0$/m);
    expect(rest.stderr).toBe('skipped 1 folder(s) whose names are not episode ids; rename them to a valid id first, then requeue them by name\n');
    expect(await w.list(w.quarantine)).toEqual(['no id']);

    const empty = await w.run(['requeue', '--all', '--reason', 'unstamped']);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toBe('nothing in quarantine matches\n');
  });

  it('an unknown --reason is a usage error (exit 2) naming the reasons', async () => {
    const w = await world({ receiver: false });
    const r = await w.run(['requeue', '--all', '--reason', 'rejected']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--reason "rejected" is not a quarantine reason; use one of receiver_rejected, invalid_meta, invalid_episode_id, unstamped, too_large, unreadable/);
  });

  it('an empty quarantine, or none yet, moves nothing and exits 0', async () => {
    const w = await world({ receiver: false });
    expect(await w.run(['requeue', '--all'])).toMatchObject({ code: 0, stdout: 'nothing in quarantine to requeue\n' });
    const fresh = await makeWorld({ receiver: false });
    try {
      const r = await fresh.run(['requeue', '--all']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^nothing to requeue: .* does not exist yet/);
    } finally {
      await fresh.close();
    }
  });
});

describe('crash safety and the lock', () => {
  it('a quarantine/.requeue-X left by a crash is finished by the next --once, which ships it', async () => {
    const w = await world();
    // The state after step 1 and 2 of a requeue: renamed, reason file already gone.
    await w.makeEpisode('.requeue-ep-5~3', { 'data.bin': 'five' }, { under: w.quarantine });
    // ... and one cut short after step 1 only: its reason file is still there.
    await quarantined(w, 'ep-6', { reason: 'receiver_rejected', httpStatus: 412 });
    const { rename } = await import('node:fs/promises');
    await rename(join(w.quarantine, 'ep-6'), join(w.quarantine, '.requeue-ep-6'));

    const r = await w.run(['--once']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/event=recovered_requeue episode=ep-5/);
    expect(await w.list(w.quarantine)).toEqual([]);
    expect(await w.list(w.shipped)).toEqual(['ep-5', 'ep-6']);
    expect(await readdir(join(w.shipped, 'ep-6'))).not.toContain('quarantine_reason.json');
  });

  it('requeue X finishes a requeue of X that was cut short', async () => {
    const w = await world({ receiver: false });
    await quarantined(w, 'ep-7', { reason: 'unstamped' });
    const { rename } = await import('node:fs/promises');
    await rename(join(w.quarantine, 'ep-7'), join(w.quarantine, '.requeue-ep-7'));
    const r = await w.run(['requeue', 'ep-7']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^requeued ep-7 \(was unstamped; finished a requeue cut short\)$/m);
    expect(await w.list(w.quarantine)).toEqual([]);
    expect(await readdir(join(w.episodes, 'ep-7'))).not.toContain('quarantine_reason.json');
  });

  it("waits for a pass in progress, saying so, and moves once the lock is free", async () => {
    const w = await world({ receiver: false });
    await quarantined(w, 'ep-8', { reason: 'unstamped' });
    const held = await lockPass(w.state, 'test-pass');
    const child = w.spawn(['requeue', 'ep-8']);
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    await eventually(async () => err.includes(`waiting for the daemon's pass to finish (pid ${process.pid})…`), 10_000, 'the waiting message');
    expect(await w.list(w.episodes)).toEqual([]); // nothing moves while the pass runs
    await held.release();
    expect(await exited).toBe(0);
    expect(out).toMatch(/^requeued ep-8/m);
    expect(await w.list(w.episodes)).toEqual(['ep-8']);
  });

  it('while the daemon runs: the requeued episode goes home and the daemon ships it', async () => {
    const w = await world();
    const daemon = await t.daemon(w);
    await quarantined(w, 'ep-9~2', { reason: 'receiver_rejected', httpStatus: 412 });
    const r = await w.run(['requeue', 'ep-9~2']);
    expect(r.code).toBe(0);
    await daemon.waitFor(/event=shipped episode=ep-9 /);
    expect(await w.list(w.shipped)).toEqual(['ep-9']);
    expect(await w.stored()).toEqual(['ep-9.tar.zst']);
  });
});

describe('configuration', () => {
  it('a missing config is exit 78', async () => {
    const w = await t.world({ receiver: false });
    const r = await w.run(['requeue', '--all', '--config', join(w.dir, 'nope.toml')]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/^shipper: config .*nope\.toml: cannot read the file \(ENOENT\)/);
  });

  it('a broken config is exit 78 naming the key', async () => {
    const w = await t.world({ receiver: false });
    await w.writeConfig({ host_id: 'Not Valid' });
    const r = await w.run(['requeue', 'ep-1']);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/host_id: "Not Valid" does not match/);
  });
});
