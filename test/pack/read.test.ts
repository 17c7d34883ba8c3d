// The small-file read contract (src/pack/read.ts): the bytes of a file are archived only if
// the file read is the one the walk's lstat saw, with the same size and mtime. Each case
// changes the file between the lstat and the read, on both paths (synchronous and
// threadpool), with real files, a real FIFO and a real symbolic link.

import { appendFileSync, lstatSync, openSync, renameSync, symlinkSync, truncateSync, unlinkSync, utimesSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isShipperError } from '../../src/errors.js';
import { Pacer } from '../../src/pack/pacer.js';
import { readWhole } from '../../src/pack/read.js';
import type { WalkEntry } from '../../src/pack/walk.js';
import { runOk, tempDir } from './helpers.js';

const CONTENT = Buffer.from('{"t":1,"v":2.5}\n'.repeat(256)); // 4 KiB

/** A folder with `f.jsonl` (and `other.jsonl`), and the walk's view of `f.jsonl`. */
function fixture(): { root: string; path: string; entry: WalkEntry } {
  const root = tempDir();
  const path = join(root, 'f.jsonl');
  writeFileSync(path, CONTENT);
  writeFileSync(join(root, 'other.jsonl'), Buffer.alloc(CONTENT.length, 'x'));
  // An mtime well in the past, so that a rewrite within the same clock tick still moves it.
  utimesSync(path, 1_700_000_000, 1_700_000_000);
  return { root, path, entry: { rel: 'f.jsonl', abs: path, kind: 'file', st: lstatSync(path, { bigint: true }) } };
}

async function reason(p: Promise<Buffer>): Promise<string> {
  const err = await p.then(
    () => {
      throw new Error('the read succeeded');
    },
    (e: unknown) => e,
  );
  if (!isShipperError(err)) throw err as Error;
  expect(err.code).toBe('SHIP_EPISODE_CHANGED');
  return String(err.details.reason);
}

describe.each([
  ['sync', false],
  ['threadpool', true],
] as const)('readWhole (%s)', (_name, threadpool) => {
  const pacer = (): Pacer => new Pacer({ threadpool });

  it('returns exactly the bytes of an unchanged file', async () => {
    const { root, entry } = fixture();
    expect((await readWhole(root, entry, pacer())).equals(CONTENT)).toBe(true);
  });

  it('an empty file reads as no bytes', async () => {
    const { root, path } = fixture();
    writeFileSync(path, '');
    const entry: WalkEntry = { rel: 'f.jsonl', abs: path, kind: 'file', st: lstatSync(path, { bigint: true }) };
    expect((await readWhole(root, entry, pacer())).length).toBe(0);
  });

  it('refuses a file that grew, shrank, or was rewritten in place after the lstat', async () => {
    const grew = fixture();
    appendFileSync(grew.path, 'one more line\n');
    expect(await reason(readWhole(grew.root, grew.entry, pacer()))).toMatch(/^(grew|size_changed)$/);

    const shrank = fixture();
    truncateSync(shrank.path, 100);
    expect(await reason(readWhole(shrank.root, shrank.entry, pacer()))).toMatch(/^(shrank|size_changed)$/);

    const rewritten = fixture();
    const fd = openSync(rewritten.path, 'r+');
    writeSync(fd, 'X', 10);
    closeSync(fd);
    expect(await reason(readWhole(rewritten.root, rewritten.entry, pacer()))).toBe('mtime_changed');
  });

  it('refuses another file renamed over it (same size), and one that vanished', async () => {
    const replaced = fixture();
    renameSync(join(replaced.root, 'other.jsonl'), replaced.path);
    expect(await reason(readWhole(replaced.root, replaced.entry, pacer()))).toBe('replaced');

    const gone = fixture();
    unlinkSync(gone.path);
    expect(await reason(readWhole(gone.root, gone.entry, pacer()))).toBe('vanished');
  });

  it('refuses, without hanging, a FIFO or a symbolic link put in its place', async () => {
    const fifo = fixture();
    unlinkSync(fifo.path);
    await runOk(['mkfifo', fifo.path]);
    expect(await reason(readWhole(fifo.root, fifo.entry, pacer()))).toBe('type_changed');

    const link = fixture();
    unlinkSync(link.path);
    symlinkSync('other.jsonl', link.path);
    // O_NOFOLLOW: the link is never followed (ELOOP), so other.jsonl's bytes are never read.
    expect(await reason(readWhole(link.root, link.entry, pacer()))).toBe('type_changed');
  });
});
