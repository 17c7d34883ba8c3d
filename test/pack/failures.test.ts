// Every way a pack can fail, and the one promise they share: the temp file `out` is gone
// before the promise rejects (unless it was not ours: an `out` that already existed).

import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, unlinkSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isShipperError, type ShipperError } from '../../src/errors.js';
import { fingerprintEpisode, packEpisode, type PackOptions } from '../../src/pack/index.js';
import { Pacer } from '../../src/pack/pacer.js';
import { buildTree, runOk, tempDir } from './helpers.js';

const MiB = 1024 * 1024;

/** A fresh episode and an empty outbox beside it. */
function setup(specs: Parameters<typeof buildTree>[1]): { ep: string; outbox: string; out: string } {
  const base = tempDir();
  const ep = join(base, 'episodes', 'ep-1');
  buildTree(ep, specs);
  const outbox = join(base, 'outbox');
  mkdirSync(outbox);
  return { ep, outbox, out: join(outbox, '.tmp-ep-1.tar.zst') };
}

async function packFails(o: PackOptions, threadpool = false): Promise<ShipperError> {
  const err = await packEpisode(o, { pacer: new Pacer({ threadpool }) }).then(
    () => {
      throw new Error('the pack succeeded');
    },
    (e: unknown) => e,
  );
  if (!isShipperError(err)) throw err;
  return err;
}

const big = (n: number, seed = 1): Buffer => Buffer.alloc(n, String(seed));

/** Pack `ep` (as ep-1, level 1) expecting a failure; `change` runs once, as soon as the first bytes were read. */
async function packFailsAfter(ep: string, out: string, change: () => void, extra: Partial<PackOptions> = {}, threadpool = false): Promise<ShipperError> {
  let fired = false;
  const onProgress = (bytes: number): void => {
    if (bytes === 0 || fired) return;
    fired = true;
    change();
  };
  const err = await packFails({ episodeDir: ep, id: 'ep-1', out, level: 1, ...extra, onProgress }, threadpool);
  expect(fired).toBe(true);
  return err;
}

describe('packEpisode when the episode changes under it', () => {
  it('fails with SHIP_EPISODE_CHANGED when a file grows while it is read, and removes the temp file', async () => {
    const { ep, outbox, out } = setup([{ path: 'big.bin', content: big(8 * MiB) }, { path: 'z.txt', content: 'z' }]);
    const err = await packFailsAfter(ep, out, () => appendFileSync(join(ep, 'big.bin'), 'one more line\n'));
    expect(err.code).toBe('SHIP_EPISODE_CHANGED');
    expect(err.details).toMatchObject({ path: 'big.bin', reason: 'grew' });
    expect(readdirSync(outbox)).toEqual([]);
  });

  it('fails when a file is rewritten in place (same size, new mtime) while it is read', async () => {
    const { ep, outbox, out } = setup([{ path: 'big.bin', content: big(8 * MiB) }]);
    const err = await packFailsAfter(ep, out, () => {
      const fd = openSync(join(ep, 'big.bin'), 'r+');
      writeSync(fd, 'X', 100);
      closeSync(fd);
    });
    expect(err.code).toBe('SHIP_EPISODE_CHANGED');
    expect(err.details).toMatchObject({ path: 'big.bin', reason: 'mtime_changed' });
    expect(readdirSync(outbox)).toEqual([]);
  });

  it.each([false, true])('fails when a file vanishes after the walk saw it (threadpool: %s)', async (threadpool) => {
    const { ep, outbox, out } = setup([
      { path: 'a.bin', content: big(4 * MiB) },
      { path: 'b.bin', content: big(4 * MiB, 2) },
    ]);
    const err = await packFailsAfter(ep, out, () => unlinkSync(join(ep, 'b.bin')), {}, threadpool);
    expect(err.code).toBe('SHIP_EPISODE_CHANGED');
    expect(err.details).toMatchObject({ path: 'b.bin', reason: 'vanished' });
    expect(readdirSync(outbox)).toEqual([]);
  });

  it('fails, without hanging, when a file is swapped for a FIFO or a symlink between lstat and open', async () => {
    for (const swap of ['fifo', 'symlink'] as const) {
      const { ep, outbox, out } = setup([
        { path: 'a.bin', content: big(4 * MiB) },
        { path: 'b.bin', content: big(4 * MiB, 2) },
      ]);
      let swapped: Promise<unknown> = Promise.resolve();
      const err = await packFailsAfter(ep, out, () => {
        unlinkSync(join(ep, 'b.bin'));
        if (swap === 'symlink') symlinkSync('a.bin', join(ep, 'b.bin'));
        else swapped = runOk(['mkfifo', join(ep, 'b.bin')]);
      });
      await swapped;
      expect(err.code).toBe('SHIP_EPISODE_CHANGED');
      // b.bin was lstat'ed (as a file) before a.bin was read; if a future read-ahead saw
      // it later, the folder check reports the episode folder itself instead.
      expect(['b.bin', '']).toContain(err.details.path);
      expect(readdirSync(outbox)).toEqual([]);
    }
  });

  it.each([false, true])('fails when a folder gains an entry after it was listed (threadpool: %s)', async (threadpool) => {
    const { ep, outbox, out } = setup([{ path: 'a.bin', content: big(4 * MiB) }]);
    const err = await packFailsAfter(ep, out, () => writeFileSync(join(ep, 'late.txt'), 'late'), {}, threadpool);
    expect(err.code).toBe('SHIP_EPISODE_CHANGED');
    expect(err.details).toMatchObject({ path: '', reason: 'folder_changed' });
    expect(readdirSync(outbox)).toEqual([]);
  });
});

describe('packEpisode limits, cancellation and its temp file', () => {
  it('fails with SHIP_EPISODE_TOO_LARGE past maxInputBytes, and accepts exactly the limit', async () => {
    const specs = [
      { path: 'a', content: big(1000) },
      { path: 'b', content: big(1000) },
      { path: 'c', content: big(1000) },
    ];
    const { ep, outbox, out } = setup(specs);
    const err = await packFails({ episodeDir: ep, id: 'ep-1', out, level: 1, maxInputBytes: 2999 });
    expect(err.code).toBe('SHIP_EPISODE_TOO_LARGE');
    expect(err.details).toMatchObject({ limit: 2999, atLeast: 3000 });
    expect(readdirSync(outbox)).toEqual([]);
    const r = await packEpisode({ episodeDir: ep, id: 'ep-1', out, level: 1, maxInputBytes: 3000 });
    expect(r.inputBytes).toBe(3000);
  });

  it('knows an episode is too large from lstat alone, before reading its bytes', async () => {
    const { ep, outbox, out } = setup([{ path: 'a.txt', content: 'a' }]);
    // 64 GiB, sparse: reading it would take minutes; lstat says enough.
    writeFileSync(join(ep, 'huge.bin'), '');
    truncateSync(join(ep, 'huge.bin'), 64 * 1024 * MiB);
    let maxProgress = 0;
    const err = await packFails({
      episodeDir: ep,
      id: 'ep-1',
      out,
      level: 1,
      maxInputBytes: MiB,
      onProgress: (b) => (maxProgress = Math.max(maxProgress, b)),
    });
    expect(err.code).toBe('SHIP_EPISODE_TOO_LARGE');
    expect(maxProgress).toBeLessThanOrEqual(1);
    expect(readdirSync(outbox)).toEqual([]);
  });

  it('fails with SHIP_ABORTED when the signal fires mid-pack, and removes the temp file', async () => {
    const { ep, outbox, out } = setup([
      { path: 'a.bin', content: big(8 * MiB) },
      { path: 'b.bin', content: big(8 * MiB, 3) },
    ]);
    const ac = new AbortController();
    const err = await packFailsAfter(ep, out, () => ac.abort(), { frameBytes: 256 * 1024, signal: ac.signal });
    expect(err.code).toBe('SHIP_ABORTED');
    expect(readdirSync(outbox)).toEqual([]);
  });

  it('fails with SHIP_ABORTED without creating anything when the signal is already aborted', async () => {
    const { ep, outbox, out } = setup([{ path: 'a', content: 'a' }]);
    const err = await packFails({ episodeDir: ep, id: 'ep-1', out, level: 1, signal: AbortSignal.abort() });
    expect(err.code).toBe('SHIP_ABORTED');
    expect(readdirSync(outbox)).toEqual([]);
  });

  it('refuses an out file that already exists (O_EXCL) and leaves it alone', async () => {
    const { ep, out } = setup([{ path: 'a', content: 'a' }]);
    writeFileSync(out, 'not yours');
    const err = await packFails({ episodeDir: ep, id: 'ep-1', out, level: 1 });
    expect(err.code).toBe('SHIP_IO');
    expect(err.details.errno).toBe('EEXIST');
    expect(readFileSync(out, 'utf8')).toBe('not yours');
  });

  it('fails with SHIP_EPISODE_CHANGED when the episode folder itself is gone', async () => {
    const base = tempDir();
    mkdirSync(join(base, 'outbox'));
    const out = join(base, 'outbox', '.tmp');
    const err = await packFails({ episodeDir: join(base, 'episodes', 'nope'), id: 'nope', out, level: 1 });
    expect(err.code).toBe('SHIP_EPISODE_CHANGED');
    expect(err.details).toMatchObject({ path: '', reason: 'vanished' });
    expect(existsSync(out)).toBe(false);
  });
});

describe('packEpisode on an episode path that is not a folder', () => {
  it('fails with SHIP_EPISODE_UNREADABLE (not_a_folder) for a symlink to a folder or a plain file', async () => {
    const base = tempDir();
    buildTree(join(base, 'real'), [{ path: 'a', content: 'a' }]);
    symlinkSync(join(base, 'real'), join(base, 'ep-link'));
    writeFileSync(join(base, 'ep-file'), 'x');
    mkdirSync(join(base, 'outbox'));
    for (const name of ['ep-link', 'ep-file']) {
      const out = join(base, 'outbox', `.tmp-${name}`);
      const err = await packFails({ episodeDir: join(base, name), id: name, out, level: 1 });
      expect(err.code).toBe('SHIP_EPISODE_UNREADABLE');
      expect(err.details).toMatchObject({ path: '', reason: 'not_a_folder' });
    }
    expect(readdirSync(join(base, 'outbox'))).toEqual([]);
  });
});

describe('packEpisode with names tar cannot carry', () => {
  it.each([false, true])('fails with SHIP_EPISODE_UNREADABLE (non_utf8_name) on a file name that is not UTF-8 (threadpool: %s)', async (threadpool) => {
    const { ep, outbox, out } = setup([{ path: 'sub/', dir: true }, { path: 'sub/ok.txt', content: 'ok' }]);
    // b\xff.t — Latin-1 from some old tool; as a string it would become b\ufffd.t silently.
    writeFileSync(Buffer.concat([Buffer.from(`${ep}/sub/`), Buffer.from([0x62, 0xff, 0x2e, 0x74])]), 'latin-1 name');
    const err = await packFails({ episodeDir: ep, id: 'ep-1', out, level: 1 }, threadpool);
    expect(err.code).toBe('SHIP_EPISODE_UNREADABLE');
    expect(err.details).toMatchObject({ path: 'sub/b\\xff.t', reason: 'non_utf8_name' });
    expect(err.message).toContain('sub/b\\xff.t');
    expect(err.message).toMatch(/not valid UTF-8.*rename/);
    expect(readdirSync(outbox)).toEqual([]);
    await expect(fingerprintEpisode(ep)).rejects.toMatchObject({ code: 'SHIP_EPISODE_UNREADABLE' });
  });

  it('fails with SHIP_EPISODE_UNREADABLE (non_utf8_link_target) on a symlink whose target is not UTF-8', async () => {
    const { ep, outbox, out } = setup([{ path: 'ok.txt', content: 'ok' }]);
    symlinkSync(Buffer.from([0x74, 0xe9, 0x2e, 0x74]), join(ep, 'link'));
    const err = await packFails({ episodeDir: ep, id: 'ep-1', out, level: 1 });
    expect(err.code).toBe('SHIP_EPISODE_UNREADABLE');
    expect(err.details).toMatchObject({ reason: 'non_utf8_link_target' });
    expect(readdirSync(outbox)).toEqual([]);
  });
});
