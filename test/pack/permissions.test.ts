// EACCES inside an episode → SHIP_EPISODE_UNREADABLE, naming the path and the fix.
//
// Root reads a mode-000 file anyway (CAP_DAC_OVERRIDE), so when the tests run as root the
// pack runs with the process's effective uid lowered to `nobody` (seteuid, restored in a
// finally; the saved uid stays 0 so it can be restored). The kernel then refuses the read
// as it would for the shipper's own unprivileged user. This file is alone in its worker
// process (vitest pool "forks"), so nothing else runs under the lowered uid. That root
// packs a mode-000 file (and keeps mode 000) is checked by roundtrip.test.ts.

import { chmodSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isShipperError, type ShipperError } from '../../src/errors.js';
import { packEpisode } from '../../src/pack/index.js';
import { Pacer } from '../../src/pack/pacer.js';
import { buildTree, tempDir } from './helpers.js';

const NOBODY = 65534;

async function asUnprivileged<T>(fn: () => Promise<T>): Promise<T> {
  if (process.geteuid?.() !== 0) return fn();
  process.seteuid!(NOBODY);
  try {
    return await fn();
  } finally {
    process.seteuid!(0);
  }
}

function setup(): { ep: string; outbox: string; out: string } {
  const base = tempDir();
  const ep = join(base, 'episodes', 'ep-perm');
  buildTree(ep, [
    { path: 'ok.txt', content: 'fine\n' },
    { path: 'secret/', dir: true },
    { path: 'secret/inside.txt', content: 'x' },
  ]);
  chmodSync(join(base, 'episodes'), 0o755);
  const outbox = join(base, 'outbox');
  mkdirSync(outbox);
  chmodSync(outbox, 0o777); // the lowered uid must be able to create and remove its temp file
  return { ep, outbox, out: join(outbox, '.tmp-ep-perm.tar.zst') };
}

async function failure(p: Promise<unknown>): Promise<ShipperError> {
  const err = await p.then(
    () => new Error('the pack succeeded'),
    (e: unknown) => e,
  );
  if (!isShipperError(err)) throw err;
  return err;
}

describe.each([
  ['synchronous', false],
  ['threadpool', true],
] as const)('packEpisode on files and folders it may not read (%s file-system calls)', (_mode, threadpool) => {
  const io = (): { pacer: Pacer } => ({ pacer: new Pacer({ threadpool }) });

  it('fails with SHIP_EPISODE_UNREADABLE on a file it cannot open, naming the path and the fix', async () => {
    const { ep, outbox, out } = setup();
    chmodSync(join(ep, 'ok.txt'), 0o000);
    const err = await failure(asUnprivileged(() => packEpisode({ episodeDir: ep, id: 'ep-perm', out, level: 1 }, io())));
    expect(err.code).toBe('SHIP_EPISODE_UNREADABLE');
    expect(err.details).toMatchObject({ path: 'ok.txt', reason: 'permission_denied', errno: 'EACCES' });
    expect(err.message).toContain('ok.txt');
    expect(err.message).toContain('chmod');
    expect(readdirSync(outbox)).toEqual([]);
  });

  it('fails with SHIP_EPISODE_UNREADABLE on a folder it cannot list', async () => {
    const { ep, outbox, out } = setup();
    chmodSync(join(ep, 'secret'), 0o000);
    const err = await failure(asUnprivileged(() => packEpisode({ episodeDir: ep, id: 'ep-perm', out, level: 1 }, io())));
    expect(err.code).toBe('SHIP_EPISODE_UNREADABLE');
    expect(err.details).toMatchObject({ path: 'secret', reason: 'permission_denied' });
    expect(readdirSync(outbox)).toEqual([]);
  });
});
