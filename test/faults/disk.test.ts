// The disk as an adversary: a data folder that fills up (a small tmpfs mounted as the whole
// data_dir, filled with a filler file that is deleted later), and data folders that are
// read-only, missing or on two filesystems. Mounting needs root (as here and in CI); without
// it these tests are skipped with that reason.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { killAll, sleep, startDaemon, until } from '../helpers/daemon.js';
import { storedEquals } from '../helpers/tree.js';
import { makeWorld, type World } from '../helpers/world.js';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const NOT_ROOT = 'mounting a tmpfs needs root';

let w: World;
const mounts: string[] = [];

async function mountTmpfs(at: string, size: string, ro = false): Promise<void> {
  await mkdir(at, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', `size=${size}${ro ? ',ro' : ''}`, 'tmpfs', at]);
  mounts.push(at);
}

/** Fill the filesystem of `dir` with `dir/filler` until `leaveBytes` (about) remain. */
async function fill(dir: string, leaveBytes: number): Promise<string> {
  const filler = join(dir, 'filler');
  const fh = await open(filler, 'w');
  try {
    const chunk = Buffer.alloc(64 * 1024, 7);
    for (;;) {
      const st = await statfs(dir);
      const free = st.bavail * st.bsize;
      if (free <= leaveBytes) break;
      try {
        await fh.write(chunk, 0, Math.min(chunk.length, Math.max(4096, free - leaveBytes)));
      } catch {
        break; // ENOSPC: full
      }
    }
  } finally {
    await fh.close();
  }
  return filler;
}

/**
 * The daemon retries every second or less, and each attempt has its temp archive in
 * outbox/ while it runs; so "no temp left" means: between two attempts outbox/ is empty.
 * A temp file that a failed attempt leaked keeps it non-empty, and this times out.
 */
async function outboxEmptiesBetweenAttempts(): Promise<void> {
  await until('outbox/ empty between two attempts (a failed pack removes its temp archive)', async () => (await w.list(w.outbox)).length === 0, 5000, 10);
}

beforeEach(async () => {
  w = await makeWorld();
});
afterEach(async () => {
  await killAll();
  for (const m of mounts.splice(0).reverse()) await run('umount', ['-l', m]).catch(() => {});
  await w.close();
});

describe.skipIf(!isRoot)(`a data folder that fills up (skipped unless root: ${NOT_ROOT})`, () => {
  it('the pack fails with SHIP_DISK_FULL, leaves no temp file, the episode stays, the daemon backs off without exiting, and ships once space returns', async () => {
    await mountTmpfs(w.data, '24m');
    await w.writeConfig({ 'retry.initial_s': 0.3, 'retry.max_s': 1 });
    const src = await w.makeEpisode('ep-big', { 'payload.bin': randomBytes(8_000_000) });
    const reference = join(w.dir, 'reference');
    await run('cp', ['-a', src, reference]);
    const filler = await fill(w.data, 3_000_000); // room for the reason files, not for the archive

    const d = startDaemon(w);
    await d.waitLog(/event=pass_stopped class=disk_full code=SHIP_DISK_FULL .*the disk is full \(ENOSPC\)/, 20_000);
    await sleep(2500);
    expect(d.done()).toBe(false);
    const stops = d.lines.filter((l) => /class=disk_full/.test(l)).length;
    expect(stops).toBeGreaterThan(0);
    expect(stops).toBeLessThan(15); // backing off, not spinning
    expect(await w.list(w.episodes)).toEqual(['ep-big']);
    await outboxEmptiesBetweenAttempts(); // the temp archive was removed
    expect(await w.list(w.quarantine)).toEqual([]);

    await rm(filler);
    await d.waitLog(/event=shipped episode=ep-big as=ep-big status=201/, 30_000);
    expect((await d.stop()).code).toBe(0);
    expect(await w.list(w.shipped)).toEqual(['ep-big']);
    expect(await w.list(w.outbox)).toEqual([]);
    expect(await storedEquals(join(w.store, 'lab-01', 'ep-big.tar.zst'), 'ep-big', reference)).toBeNull();
    expect(d.lines.join('\n')).not.toMatch(/internal error/);
  });

  it('a disk with no byte left: state/ and the quarantine reason cannot be written; nothing moves half-way, the daemon stays up, and all is done once space returns', async () => {
    await mountTmpfs(w.data, '8m');
    await w.writeConfig({ 'retry.initial_s': 0.3, 'retry.max_s': 1 });
    await w.makeEpisode('ep-good', { 'data.csv': 'a,b\n1,2\n' });
    await w.makeEpisode('ep-badmeta', {}, { meta: '{"episode_id": ' });
    // The folders exist (a host that ran before), then the disk fills to the last byte.
    const once = await w.run(['check-config']);
    expect(once.code).toBe(0);
    for (const f of [w.outbox, w.shipped, w.quarantine, w.state]) await mkdir(f, { recursive: true });
    const filler = await fill(w.data, 0);

    const d = startDaemon(w);
    await d.waitLog(/code=SHIP_DISK_FULL/, 20_000);
    await sleep(2000);
    expect(d.done(), d.lines.join('\n')).toBe(false);
    // Nothing half-done: both episodes where they were, no reason file in them, no temp file.
    expect(await w.list(w.episodes)).toEqual(['ep-badmeta', 'ep-good']);
    expect(await w.list(join(w.episodes, 'ep-badmeta'))).toEqual(['meta.json']);
    expect(await w.list(w.quarantine)).toEqual([]);
    await outboxEmptiesBetweenAttempts();
    expect((await w.list(w.state)).filter((n) => n.startsWith('.'))).toEqual([]);
    const log = d.lines.join('\n');
    expect(log).toMatch(/class=disk_full code=SHIP_DISK_FULL message="write the quarantine reason of ep-badmeta: the disk is full \(ENOSPC\)/);
    expect(log).toMatch(/code=SHIP_DISK_FULL .*state\/last-pass\.json: the disk is full \(ENOSPC\)/);

    await rm(filler);
    await d.waitLog(/event=shipped episode=ep-good/, 30_000);
    await d.waitLog(/event=quarantined episode=ep-badmeta .*reason=invalid_meta/, 30_000);
    expect((await d.stop()).code).toBe(0);
    const reason = JSON.parse(await readFile(join(w.quarantine, 'ep-badmeta', 'quarantine_reason.json'), 'utf8')) as Record<string, unknown>;
    expect(reason).toMatchObject({ episode_id: 'ep-badmeta', reason: 'invalid_meta' });
    expect(JSON.parse(await readFile(join(w.state, 'last-pass.json'), 'utf8'))).toHaveProperty('outcome');
    expect(d.lines.join('\n')).not.toMatch(/internal error/);
  });
});

describe.skipIf(!isRoot)(`data folders the shipper cannot use (skipped unless root: ${NOT_ROOT})`, () => {
  async function expectRefusedAtStart(key: RegExp, problem: RegExp): Promise<void> {
    const before = await w.list(w.episodes);
    const once = await w.run(['--once']);
    expect(once.code, once.stderr).toBe(78);
    expect(once.stderr).toMatch(/SHIP_CONFIG_INVALID|^shipper: config /m);
    expect(once.stderr).toMatch(key);
    expect(once.stderr).toMatch(problem);
    const daemon = await w.run([], { timeoutMs: 15_000 });
    expect(daemon.code, daemon.stderr).toBe(78);
    expect(daemon.stderr).toMatch(key);
    // Never a half-done move: the episodes are where the recorder left them, nothing packed.
    expect(await w.list(w.episodes)).toEqual(before);
    expect(await w.stored()).toEqual([]);
  }

  it('a read-only data_dir (a read-only tmpfs) is refused at start with exit 78 naming the folder', async () => {
    await mountTmpfs(w.data, '8m');
    await w.makeEpisode('ep-1');
    for (const f of [w.outbox, w.shipped, w.quarantine, w.state]) await mkdir(f);
    await run('mount', ['-o', 'remount,ro', w.data]);
    await expectRefusedAtStart(/config .*lab-host\.toml: paths\.\w+: .* is not writable \(EROFS\)/, /read-only/);
  });

  it('one read-only folder (a read-only bind mount of shipped/) is refused at start with exit 78 naming paths.shipped', async () => {
    await w.makeEpisode('ep-1');
    for (const f of [w.outbox, w.shipped, w.quarantine, w.state]) await mkdir(f);
    await run('mount', ['--bind', w.shipped, w.shipped]);
    mounts.push(w.shipped);
    await run('mount', ['-o', 'remount,bind,ro', w.shipped]);
    await expectRefusedAtStart(/paths\.shipped: .*shipped is not writable \(EROFS\)/, /read-only/);
  });

  it('a data folder on another filesystem is refused at start with exit 78 naming the key', async () => {
    await w.makeEpisode('ep-1');
    const elsewhere = join(w.dir, 'elsewhere');
    await mountTmpfs(elsewhere, '8m');
    await w.writeConfig({ 'paths.shipped': elsewhere });
    await expectRefusedAtStart(/paths\.shipped: .* is on another filesystem than /, /one filesystem/);
    expect(await readdir(elsewhere)).toEqual([]);
  });

  it('a missing data_dir is refused at start with exit 78 naming paths.data_dir', async () => {
    await w.writeConfig({ 'paths.data_dir': join(w.dir, 'not-there') });
    const once = await w.run(['--once']);
    expect(once.code).toBe(78);
    expect(once.stderr).toMatch(/paths\.data_dir: .*not-there does not exist/);
    await writeFile(join(w.dir, 'marker'), 'x');
    expect(await w.list(join(w.dir, 'not-there'))).toEqual([]);
  });
});
