// Pruning of quarantine/ and shipped/ by the running daemon: the age limits, keep_days = 0,
// and the gate in state/cleanup.json that keeps the cleanup to once per
// quarantine.cleanup_interval_s even across restarts (a crash loop must not rescan).

import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { housekeeping } from '../../src/daemon/housekeeping.js';
import { silentLogger } from '../../src/log/logger.js';
import { prepareFolders } from '../../src/queue/folders.js';
import { killAll, sleep, startDaemon, until, type DaemonProc } from '../helpers/daemon.js';
import { makeWorld, type Overrides, type World } from '../helpers/world.js';

const DAY_MS = 86_400_000;
const worlds: World[] = [];

async function world(overrides: Overrides): Promise<World> {
  const w = await makeWorld({ overrides });
  worlds.push(w);
  return w;
}

afterEach(async () => {
  await killAll();
  await Promise.all(worlds.splice(0).map((w) => w.close()));
});

/** A quarantined episode as the shipper leaves it, quarantined `ageMs` ago. */
async function quarantined(w: World, id: string, ageMs: number): Promise<void> {
  const dir = join(w.quarantine, id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'data.bin'), `payload of ${id}\n`);
  await writeFile(
    join(dir, 'quarantine_reason.json'),
    JSON.stringify({
      episode_id: id,
      host_id: 'lab-01',
      quarantined_at: new Date(Date.now() - ageMs).toISOString(),
      reason: 'receiver_rejected',
      http_status: 412,
      receiver_body: '',
      archive_sha256: null,
      archive_bytes: null,
      shipper_version: '0.0.0-test',
    }),
  );
}

async function lastCleanup(w: World): Promise<number | null> {
  try {
    return (JSON.parse(await readFile(join(w.state, 'cleanup.json'), 'utf8')) as { last_run_at: number }).last_run_at;
  } catch {
    return null;
  }
}

/** Wait until the daemon has finished a few passes that started after `since` (epoch ms). */
async function passesAfter(w: World, since: number): Promise<void> {
  await until('a pass after the start', async () => {
    try {
      const last = JSON.parse(await readFile(join(w.state, 'last-pass.json'), 'utf8')) as { started_at: string };
      return Date.parse(last.started_at) > since;
    } catch {
      return false;
    }
  });
  await sleep(600); // scan_interval_s is 0.2: a few more passes
}

async function start(w: World): Promise<DaemonProc> {
  const d = startDaemon(w);
  await d.waitLog(/event=daemon_ready/, 15_000);
  return d;
}

describe('housekeeping in the daemon', () => {
  it('prunes quarantine just outside quarantine.keep_days and keeps what is just inside', async () => {
    const w = await world({ 'quarantine.keep_days': 1, 'quarantine.cleanup_interval_s': 3600 });
    await quarantined(w, 'q-outside', DAY_MS + 10 * 60_000);
    await quarantined(w, 'q-inside', DAY_MS - 10 * 60_000);
    // Without a reason file the folder's mtime stands in for quarantined_at.
    const bare = join(w.quarantine, 'q-bare-old');
    await mkdir(bare, { recursive: true });
    const old = new Date(Date.now() - 2 * DAY_MS);
    await utimes(bare, old, old);
    await mkdir(join(w.quarantine, 'q-bare-young'), { recursive: true });

    const t0 = Date.now();
    const d = await start(w);
    await d.waitLog(/event=quarantine_pruned .*episode=q-outside/);
    await passesAfter(w, t0);
    expect(await w.list(w.quarantine)).toEqual(['q-bare-young', 'q-inside']);
    const log = d.lines.join('\n');
    expect(log).toMatch(/event=quarantine_pruned episode=q-outside age_days=1\.0 reason=receiver_rejected/);
    expect(log).toMatch(/event=quarantine_pruned episode=q-bare-old age_days=2\.0/);
    expect((await d.stop()).code).toBe(0);
  });

  it('runs at most once per quarantine.cleanup_interval_s, across a restart (state/cleanup.json)', async () => {
    const w = await world({ 'quarantine.keep_days': 1, 'quarantine.cleanup_interval_s': 3600 });
    await quarantined(w, 'q-first', 2 * DAY_MS);
    const t0 = Date.now();
    let d = await start(w);
    await d.waitLog(/event=quarantine_pruned .*episode=q-first/);
    expect((await d.stop()).code).toBe(0);
    const gate = await lastCleanup(w);
    expect(gate).toBeGreaterThanOrEqual(t0);
    expect(gate).toBeLessThanOrEqual(Date.now());

    // Restarted within the hour: the gate holds, the old folder that appeared meanwhile stays.
    await quarantined(w, 'q-second', 2 * DAY_MS);
    const t1 = Date.now();
    d = await start(w);
    await passesAfter(w, t1);
    expect(await w.list(w.quarantine)).toEqual(['q-second']);
    expect(await lastCleanup(w)).toBe(gate);
    expect(d.lines.join('\n')).not.toMatch(/quarantine_pruned/);
    expect((await d.stop()).code).toBe(0);

    // An hour later (the gate moved back an hour), the next start prunes it.
    await writeFile(join(w.state, 'cleanup.json'), JSON.stringify({ last_run_at: gate! - 3600_000 - 1000 }));
    d = await start(w);
    await d.waitLog(/event=quarantine_pruned .*episode=q-second/);
    expect(await w.list(w.quarantine)).toEqual([]);
    expect(await lastCleanup(w)).toBeGreaterThan(gate!);
    expect((await d.stop()).code).toBe(0);
  });

  it('keeps everything for ever with keep_days = 0', async () => {
    const w = await world({ 'quarantine.keep_days': 0, 'shipped.keep_days': 0, 'quarantine.cleanup_interval_s': 0.2 });
    await quarantined(w, 'q-ancient', 3650 * DAY_MS);
    const s = join(w.shipped, 's-ancient');
    await mkdir(s, { recursive: true });
    const ancient = new Date('2016-01-01T00:00:00Z');
    await utimes(s, ancient, ancient);
    const t0 = Date.now();
    const d = await start(w);
    await passesAfter(w, t0);
    expect(await lastCleanup(w)).toBeGreaterThanOrEqual(t0);
    expect(await w.list(w.quarantine)).toEqual(['q-ancient']);
    expect(await w.list(w.shipped)).toEqual(['s-ancient']);
    expect(d.lines.join('\n')).not.toMatch(/_pruned/);
    expect((await d.stop()).code).toBe(0);
  });

  it('prunes shipped/ after shipped.keep_days counted from when the episode was shipped, not from its own age', async () => {
    // keep_days may be fractional: 3 s here. The episode itself is years old (its folder's
    // mtime), which must not count: it was shipped just now.
    const keepMs = 3000;
    const w = await world({ 'shipped.keep_days': keepMs / DAY_MS, 'quarantine.cleanup_interval_s': 0.2 });
    const folder = await w.makeEpisode('ep-old-recording');
    const longAgo = new Date('2019-06-01T00:00:00Z');
    await utimes(folder, longAgo, longAgo);
    const d = await start(w);
    await d.waitLog(/event=shipped .*episode=ep-old-recording/);
    const shippedAt = Date.now();
    await sleep(keepMs / 2);
    expect(await w.list(w.shipped)).toEqual(['ep-old-recording']);
    await d.waitLog(/event=shipped_pruned .*episode=ep-old-recording/, 10_000);
    expect(Date.now() - shippedAt).toBeGreaterThanOrEqual(keepMs - 500);
    expect(await w.list(w.shipped)).toEqual([]);
    expect(await w.stored()).toEqual(['ep-old-recording.tar.zst']);
    expect((await d.stop()).code).toBe(0);
  });
});

describe('housekeeping() on a clock moved forward', () => {
  it('counts shipped age from the retirement (ctime), just inside kept, just outside pruned, and reports progress per folder', async () => {
    const w = await world({ 'shipped.keep_days': 2, 'quarantine.keep_days': 0, 'quarantine.cleanup_interval_s': 3600 });
    for (const id of ['s-1', 's-2', 's-3']) {
      const dir = join(w.shipped, id);
      await mkdir(dir, { recursive: true });
      const old = new Date('2018-01-01T00:00:00Z'); // the recording's own age must not count
      await utimes(dir, old, old);
    }
    const { config } = await loadConfig(w.configFile);
    await prepareFolders(config);
    const retired = Date.now();
    let progress = 0;
    const inside = await housekeeping(config, retired + 2 * DAY_MS - 60_000, silentLogger, { onProgress: () => progress++ });
    expect(inside).toEqual({ ran: true, quarantineRemoved: 0, shippedRemoved: 0 });
    expect(progress).toBeGreaterThanOrEqual(3);
    expect(await w.list(w.shipped)).toEqual(['s-1', 's-2', 's-3']);

    // Within the cleanup interval the gate holds, whatever the ages.
    const gated = await housekeeping(config, retired + 2 * DAY_MS + 60_000, silentLogger);
    expect(gated.ran).toBe(false);
    expect(await w.list(w.shipped)).toEqual(['s-1', 's-2', 's-3']);

    const outside = await housekeeping(config, retired + 2 * DAY_MS + 60_000, silentLogger, { force: true });
    expect(outside).toEqual({ ran: true, quarantineRemoved: 0, shippedRemoved: 3 });
    expect(await w.list(w.shipped)).toEqual([]);
  });
});
