// The fingerprint tells a reusable archive from a stale one without reading file contents:
// the same value from a pack and from an lstat-only walk, stable while nothing changes,
// different as soon as a file's bytes, mtime, mode or inode, or the set of entries, move.

import { chmodSync, readFileSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fingerprintEpisode, packEpisode } from '../../src/pack/index.js';
import { buildTree, tempDir } from './helpers.js';

function episode(): { ep: string; base: string } {
  const base = tempDir();
  const ep = join(base, 'ep-fp');
  buildTree(ep, [
    { path: 'meta.json', content: '{}' },
    { path: 'data/', dir: true },
    { path: 'data/a.csv', content: '1,2\n' },
    { path: 'data/b.bin', content: Buffer.alloc(3 * 1024 * 1024, 7) },
    { path: 'link', symlink: 'data/a.csv' },
  ]);
  return { ep, base };
}

describe('fingerprintEpisode', () => {
  it('equals the fingerprint packEpisode computes, and is stable while nothing changes', async () => {
    const { ep, base } = episode();
    const r = await packEpisode({ episodeDir: ep, id: 'ep-fp', out: join(base, 'o.tar.zst'), level: 1 });
    expect(r.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(await fingerprintEpisode(ep)).toBe(r.fingerprint);
    // Reading files (atime) changes nothing.
    readFileSync(join(ep, 'data', 'a.csv'));
    expect(await fingerprintEpisode(ep)).toBe(r.fingerprint);
  });

  it('changes when a file is rewritten, even with the same size', async () => {
    const { ep } = episode();
    const before = await fingerprintEpisode(ep);
    writeFileSync(join(ep, 'data', 'a.csv'), '3,4\n');
    expect(await fingerprintEpisode(ep)).not.toBe(before);
  });

  it('changes when only an mtime moves, and when only a mode changes', async () => {
    const { ep } = episode();
    const before = await fingerprintEpisode(ep);
    utimesSync(join(ep, 'data', 'b.bin'), 1_800_000_000, 1_800_000_000);
    const touched = await fingerprintEpisode(ep);
    expect(touched).not.toBe(before);
    chmodSync(join(ep, 'meta.json'), 0o600);
    expect(await fingerprintEpisode(ep)).not.toBe(touched);
  });

  it('changes when a file is replaced by another inode with the same bytes and mtime', async () => {
    const { ep } = episode();
    const dir = join(ep, 'data');
    const before = await fingerprintEpisode(ep);
    writeFileSync(join(dir, '.new'), '1,2\n');
    utimesSync(join(dir, '.new'), 1_700_000_000, 1_700_000_000);
    renameSync(join(dir, '.new'), join(dir, 'a.csv'));
    // The folder's mtime moved too; put it back so that only the inode differs.
    utimesSync(dir, 1_700_000_000, 1_700_000_000);
    expect(await fingerprintEpisode(ep)).not.toBe(before);
  });

  it('differs between two trees that differ only in where an entry sits', async () => {
    const a = tempDir();
    const b = tempDir();
    buildTree(join(a, 'ep'), [{ path: 'x/y', content: '' }]);
    buildTree(join(b, 'ep'), [{ path: 'x/', dir: true }, { path: 'y', content: '' }]);
    expect(await fingerprintEpisode(join(a, 'ep'))).not.toBe(await fingerprintEpisode(join(b, 'ep')));
  });
});
