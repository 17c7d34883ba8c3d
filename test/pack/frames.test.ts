// The compressed side: a sequence of independent zstd frames, one per frameBytes of tar
// stream, at the level asked for, that the zstd CLI reads back as one stream.

import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FrameWriter } from '../../src/pack/frames.js';
import { packEpisode } from '../../src/pack/index.js';
import { buildTree, decompress, extract, run, runOk, tempDir, zstdFrames, type Spec } from './helpers.js';

const KiB = 1024;

/** ~3.5 MB: compressible JSON lines, incompressible bytes, and many small files. */
function mixedTree(): Spec[] {
  let x = 12345;
  const rnd = (): number => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x / 0x7fffffff;
  };
  const jsonl = Array.from({ length: 20000 }, (_, i) => `{"t":${1700000000000 + i * 10},"v":${rnd().toFixed(5)},"s":"imu"}`).join('\n');
  const noise = Buffer.alloc(1024 * KiB);
  for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(rnd() * 256);
  const specs: Spec[] = [
    { path: 'telemetry.jsonl', content: jsonl },
    { path: 'camera.raw', content: noise },
  ];
  for (let i = 0; i < 300; i++) specs.push({ path: `small/f${String(i).padStart(3, '0')}.txt`, content: `file ${i}\n`.repeat(i % 17) });
  return specs;
}

function jsonLines(n: number): string {
  return Array.from({ length: n }, (_, i) => `{"seq":${i},"sensor":"lidar-${i % 4}","ok":true,"x":${(i % 1000) / 7}}`).join('\n');
}

describe('packEpisode zstd frames', () => {
  const base = tempDir();
  const ep = join(base, 'ep-frames');
  buildTree(ep, mixedTree());

  it('cuts the tar stream into one independent frame per frameBytes, which zstd and tar read back', async () => {
    const out = join(base, 'small-frames.tar.zst');
    const frameBytes = 64 * KiB;
    const r = await packEpisode({ episodeDir: ep, id: 'ep-frames', out, level: 3, frameBytes, parallel: 3 });
    const archive = await readFile(out);
    const tar = await decompress(out);
    const frames = zstdFrames(archive);
    expect(frames.length).toBe(Math.ceil(tar.length / frameBytes));
    expect(frames.length).toBeGreaterThan(20);
    // zstd's own count agrees.
    const listing = (await runOk(['zstd', '-lv', '--', out])).toString();
    expect(listing).toMatch(new RegExp(`# Zstandard Frames: ${frames.length}\\b`));
    // Each frame decompresses on its own to exactly frameBytes of the tar (the last to the rest).
    for (const [i, f] of frames.entries()) {
      const piece = await runOk(['zstd', '-dc'], f);
      expect(piece.equals(tar.subarray(i * frameBytes, (i + 1) * frameBytes))).toBe(true);
    }
    expect(r.bytes).toBe(archive.length);
    const dest = join(base, 'x');
    await extract(out, dest);
    const diff = await run(['diff', '-r', '--no-dereference', ep, join(dest, 'ep-frames')]);
    expect(diff.code).toBe(0);
  });

  it('produces the same tar whatever the frame size', async () => {
    const tars = new Set<string>();
    for (const frameBytes of [4 * KiB, 100 * KiB, 4 * 1024 * KiB]) {
      const out = join(base, `f-${frameBytes}.tar.zst`);
      await packEpisode({ episodeDir: ep, id: 'ep-frames', out, level: 1, frameBytes });
      tars.add((await decompress(out)).toString('base64'));
    }
    expect(tars.size).toBe(1);
  });

  it('honours the zstd level: level 19 is smaller than level 1 on compressible data', async () => {
    const dir = join(base, 'ep-level');
    buildTree(dir, [{ path: 'a.jsonl', content: jsonLines(12000) }]);
    const sizes: Record<number, number> = {};
    for (const level of [1, 19]) {
      const out = join(base, `level-${level}.tar.zst`);
      const r = await packEpisode({ episodeDir: dir, id: 'ep-level', out, level });
      sizes[level] = r.bytes;
    }
    expect(sizes[19]).toBeLessThan(sizes[1]! * 0.9);
  });

  it('reports the archive size and a sha-256 that match the file on disk', async () => {
    const out = join(base, 'digest.tar.zst');
    const r = await packEpisode({ episodeDir: ep, id: 'ep-frames', out, level: 3, frameBytes: 256 * KiB });
    const sum = (await runOk(['sha256sum', '--', out])).toString().split(' ')[0];
    expect(r.sha256.toString('hex')).toBe(sum);
    expect(r.inputBytes).toBe(mixedTree().reduce((n, s) => n + ('content' in s ? Buffer.byteLength(s.content) : 0), 0));
  });
});

describe('FrameWriter', () => {
  it('reports a full disk while writing frames as SHIP_DISK_FULL', async () => {
    // /dev/full answers every write with ENOSPC.
    const file = await open('/dev/full', 'w');
    try {
      const frames = new FrameWriter({ file, path: '/dev/full', frameBytes: 64 * KiB, parallel: 2, level: 1 });
      const err = await (async () => {
        for (let i = 0; i < 8; i++) await frames.write(Buffer.alloc(64 * KiB, i));
        await frames.end();
      })().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'SHIP_DISK_FULL', details: { errno: 'ENOSPC' } });
      await frames.abandon();
    } finally {
      await file.close();
    }
  });
});
