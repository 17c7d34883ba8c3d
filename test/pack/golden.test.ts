// The archive is deterministic to the byte: a fixed tree (contents, modes, mtimes) packs
// to a fixed archive. A change to these constants is a change of the archive format and
// of every digest the receiver has stored — make it on purpose, and say so in
// docs/archive.md. (The compressed bytes also pin the zstd library inside
// @mongodb-js/zstd; the tar digest does not depend on it.)

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packEpisode } from '../../src/pack/index.js';
import { Pacer } from '../../src/pack/pacer.js';
import { buildTree, decompress, sha256, tempDir, type Spec } from './helpers.js';

const ID = 'ep-golden-0001';

const csv = Array.from({ length: 400 }, (_, i) => `${i},${(i * 7) % 13},sensor-${i % 5},${(i * 0.25).toFixed(2)}`).join('\n');

const TREE: Spec[] = [
  { path: 'meta.json', content: '{"episode_id":"ep-golden-0001","code_version":{"commit":"0123456789abcdef0123456789abcdef01234567"}}\n', mtime: 1_700_000_100 },
  { path: '.hidden', content: 'dot\n', mode: 0o600, mtime: 1_700_000_200 },
  { path: 'data/', dir: true, mode: 0o750, mtime: 1_700_000_300 },
  { path: 'data/a-b.txt', content: 'a-b sorts before a/\n', mtime: 1_700_000_301 },
  { path: 'data/a/', dir: true, mtime: 1_700_000_302 },
  { path: 'data/a/x.csv', content: csv, mtime: 1_700_000_303 },
  { path: 'data/a0.txt', content: 'a0 sorts after a/\n', mtime: 1_700_000_304 },
  { path: 'data/empty.bin', content: '', mode: 0o000, mtime: 1_700_000_305 },
  { path: 'data/run.sh', content: '#!/bin/sh\necho hi\n', mode: 0o755, mtime: 1_700_000_306 },
  { path: 'logs/', dir: true, mode: 0o700, mtime: 1_700_000_400 },
  { path: 'link-to-data', symlink: 'data', mtime: 1_700_000_500 },
  { path: 'dangling', symlink: 'does/not/exist', mtime: 1_700_000_501 },
  { path: 'données-ü.txt', content: 'utf-8 name\n', mtime: 1_700_000_600 },
  { path: `${'n'.repeat(120)}.txt`, content: 'long name\n', mtime: 1_700_000_700 },
];

// Golden digests: see the header comment before changing them.
const TAR_SHA256 = '453bd5203e512b70bfe3a26c1ddc566c5dcecae9a25550d42201e824fc6a4fd5';
const ARCHIVE_SHA256 = 'd8c8408cea89a42d64a666435528f587d3a31fd46b75c403804e09f63f115a4f';
const ARCHIVE_SMALL_FRAMES_SHA256 = '8456625a8819abd9f847a232972a725441a44ed2612cb28c735b3c4b75a2defe';

describe('packEpisode golden output', () => {
  const base = tempDir();
  const ep = join(base, ID);
  buildTree(ep, TREE, 1_700_000_900);

  it('packs a fixed tree to a fixed tar and a fixed archive', async () => {
    const out = join(base, 'golden.tar.zst');
    const r = await packEpisode({ episodeDir: ep, id: ID, out, level: 3 });
    const archive = await readFile(out);
    expect(sha256(await decompress(out))).toBe(TAR_SHA256);
    expect(sha256(archive)).toBe(ARCHIVE_SHA256);
    expect(r.sha256.toString('hex')).toBe(ARCHIVE_SHA256);
    expect(r.bytes).toBe(archive.length);
    expect(r.entries).toBe(TREE.length + 1);
  });

  it('packs the same folder to the same bytes every time, whatever the parallelism', async () => {
    const digests = new Set<string>();
    for (const parallel of [1, 2, 5]) {
      const out = join(base, `again-${parallel}.tar.zst`);
      const r = await packEpisode({ episodeDir: ep, id: ID, out, level: 3, frameBytes: 8192, parallel });
      digests.add(sha256(await readFile(out)));
      digests.add(r.sha256.toString('hex'));
      expect(sha256(await decompress(out))).toBe(TAR_SHA256);
    }
    expect([...digests]).toEqual([ARCHIVE_SMALL_FRAMES_SHA256]);
  });

  it('packs to the same bytes when its file-system calls run on the threadpool (slow-disk path)', async () => {
    const out = join(base, 'threadpool.tar.zst');
    const r = await packEpisode({ episodeDir: ep, id: ID, out, level: 3 }, { pacer: new Pacer({ threadpool: true }) });
    expect(r.sha256.toString('hex')).toBe(ARCHIVE_SHA256);
    expect(sha256(await readFile(out))).toBe(ARCHIVE_SHA256);
  });
});
