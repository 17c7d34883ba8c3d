// Big inputs: memory stays bounded by the frame size and parallelism, not by the episode;
// sizes past the 11 octal digits of a ustar header travel in a pax `size` record.

import type { BigIntStats } from 'node:fs';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packEpisode } from '../../src/pack/index.js';
import { headerFor, TarWriter, USTAR_MAX_SIZE } from '../../src/pack/tar.js';
import type { WalkEntry } from '../../src/pack/walk.js';
import { buildTree, pipeOk, run, tempDir } from './helpers.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('packEpisode on a large file', () => {
  it('packs a 1 GiB (sparse) file with memory bounded by the frames, not by the file', async () => {
    const base = tempDir();
    const ep = join(base, 'ep-big');
    buildTree(ep, [{ path: 'meta.json', content: '{}' }]);
    writeFileSync(join(ep, 'zeros.bin'), '');
    truncateSync(join(ep, 'zeros.bin'), GiB);
    const out = join(base, 'big.tar.zst');
    const frameBytes = 4 * MiB;
    const parallel = 2;
    const before = process.memoryUsage().rss;
    let peak = before;
    let calls = 0;
    const r = await packEpisode({
      episodeDir: ep,
      id: 'ep-big',
      out,
      level: 3,
      frameBytes,
      parallel,
      // Sampled as the pack goes (every chunk of the big file), not on a timer.
      onProgress: () => {
        calls += 1;
        peak = Math.max(peak, process.memoryUsage().rss);
      },
    });
    expect(r.inputBytes).toBe(GiB + 2);
    expect(calls).toBeGreaterThan(100);
    // frameBytes × (parallel + 2) = 16 MiB of frames, plus read chunks, zstd's contexts and
    // output buffers and allocator slack: well under 256 MiB, against 1 GiB of input.
    const grew = (peak - before) / MiB;
    expect(grew).toBeLessThan(256);
    // The archive is small (zeros) and lists the file with its full size.
    expect(r.bytes).toBeLessThan(2 * MiB);
    const listing = await pipeOk(['zstd', '-dc', '--', out], ['tar', '-tv', '--numeric-owner', '-f', '-']);
    expect(listing.toString()).toMatch(/^-rw-r--r-- 0\/0 +1073741824 .* ep-big\/zeros\.bin$/m);
  });
});

describe('tar headers for sizes past 8 GiB', () => {
  it('adds a pax size record that GNU tar reads, for a file of 8 GiB + 1', async () => {
    const size = 8 * GiB + 1;
    expect(size).toBeGreaterThan(USTAR_MAX_SIZE);
    const st = { mode: 0o100644n, size: BigInt(size), mtimeNs: 1_700_000_000_000_000_000n, ino: 1n, dev: 1n };
    const e: WalkEntry = { rel: 'huge.bin', abs: '/nonexistent', kind: 'file', st: st as unknown as BigIntStats };
    const header = headerFor('ep-huge', e);
    expect(header.pax).toEqual({ size: String(size) });
    // Feed the start of the entry through tar-stream and keep the first 8 KiB of output.
    const tar = new TarWriter();
    const added = tar
      .addStreamed(header, async (write) => {
        for (;;) await write(Buffer.alloc(64 * 1024));
      })
      .catch((err: unknown) => err);
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of tar.output) {
      chunks.push(c);
      n += c.length;
      if (n >= 8192) break;
    }
    await added;
    const head = Buffer.concat(chunks);
    // block 0: the pax header's own ustar header (type 'x'); block 1: its records.
    expect(String.fromCharCode(head[156]!)).toBe('x');
    const records = head.subarray(512, 1024).toString('utf8');
    expect(records).toContain(`size=${size}\n`);
    expect(records).toContain('path=ep-huge/huge.bin\n');
    // GNU tar lists the entry with the pax size, then complains that the data ends early.
    const dir = tempDir();
    const file = join(dir, 'head.tar');
    writeFileSync(file, head);
    const r = await run(['tar', '-tv', '--numeric-owner', '-f', file]);
    expect(r.stdout.toString()).toMatch(new RegExp(`^-rw-r--r-- 0/0 +${size} .* ep-huge/huge\\.bin$`, 'm'));
    expect(r.stderr).toMatch(/Unexpected EOF/);
  });
});
