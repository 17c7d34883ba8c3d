// SIGTERM and SIGHUP through the real process, as systemd sends them: `systemctl stop` and
// `systemctl reload` (ExecReload=/bin/kill -HUP $MAINPID, or Type=notify-reload).

import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { lockPass } from '../../src/queue/lock.js';
import { daemonSuite, sleep, startDaemon, until } from '../helpers/daemon.js';

const suite = daemonSuite();
const world = () => suite.world();

const monotonicUsec = () => process.hrtime.bigint() / 1000n;
const temps = (names: string[]) => names.filter((n) => n.startsWith('.tmp-'));

describe('SIGTERM', () => {
  it('during an upload: STOPPING=1, exit 0 within seconds, the episode kept, nothing half-written after the next start', async () => {
    const w = await world();
    // 1 MB at 100 kB/s: the upload would take ten seconds; the daemon gives it five.
    await w.writeConfig({ 'ship.max_bytes_per_s': 100_000 });
    await w.makeEpisode('ep-term', { 'data.bin': randomBytes(1_000_000) });
    const from = suite.ns.messages.length;
    const d = startDaemon(w, { env: suite.ns.env(2_000_000) });
    await suite.ns.waitFor((m) => /^shipping ep-term/.test(m.fields.STATUS ?? ''), 15_000, from);

    const signalledAt = Date.now();
    const stopped = d.stop('SIGTERM', 20_000);
    const stopping = await suite.ns.waitForField('STOPPING', '1', 3_000, from);
    expect(stopping.at - signalledAt).toBeLessThan(1_000);
    const exit = await stopped;
    expect(exit.code).toBe(0);
    expect(exit.signal).toBeNull();
    expect(exit.ms).toBeLessThan(8_000);
    expect(d.lines.join('\n')).toMatch(/event=daemon_stopped/);

    // Never lost: the episode is still in episodes/ (the upload was cut) or, had it
    // finished in time, in shipped/; never in both, never half-moved.
    const inEpisodes = await w.list(w.episodes);
    const inShipped = await w.list(w.shipped);
    expect([...inEpisodes, ...inShipped]).toEqual(['ep-term']);
    expect(await w.stored()).toEqual(inShipped.length ? ['ep-term.tar.zst'] : []);

    // The next start recovers before READY=1: no temp file anywhere, and the episode ships.
    await w.writeConfig();
    const from2 = suite.ns.messages.length;
    const d2 = startDaemon(w, { env: suite.ns.env(2_000_000) });
    await suite.ns.waitForField('READY', '1', 15_000, from2);
    expect(temps(await w.list(w.outbox))).toEqual([]);
    expect(temps(await w.list(w.state))).toEqual([]);
    await until('ep-term in shipped/', async () => (await w.list(w.shipped)).includes('ep-term'), 15_000);
    expect(await w.list(w.episodes)).toEqual([]);
    expect(await w.stored()).toEqual(['ep-term.tar.zst']);
    expect((await d2.stop()).code).toBe(0);
    expect(await w.list(w.outbox)).toEqual([]);
  });

  it('while idle: STOPPING=1 and exit 0 at once', async () => {
    const w = await world();
    const from = suite.ns.messages.length;
    const d = startDaemon(w, { env: suite.ns.env(2_000_000) });
    await suite.ns.waitForField('READY', '1', 15_000, from);
    const exit = await d.stop('SIGTERM');
    expect(exit.code).toBe(0);
    expect(exit.ms).toBeLessThan(2_000);
    expect(suite.ns.indexOf('STOPPING', '1', from)).toBeGreaterThan(suite.ns.indexOf('READY', '1', from));
    expect(await w.list(w.state)).not.toContain('lock');
  });
});

describe('before READY=1', () => {
  it('waits for a tool that holds the pass lock, and a SIGTERM meanwhile is a clean exit 0', async () => {
    const w = await world();
    await mkdir(w.state, { recursive: true });
    // This test process plays the tool (requeue, say) that holds the pass lock.
    const held = await lockPass(w.state, 'requeue');
    const from = suite.ns.messages.length;
    const d = startDaemon(w, { env: suite.ns.env(2_000_000) });
    // SIGTERM only once the daemon handles it and waits for the lock (state/lock: it holds
    // the instance lock and goes for the pass lock next).
    await d.catches(15);
    await until('the instance lock', async () => (await w.list(w.state)).includes('lock'));
    await sleep(300);
    expect(suite.ns.indexOf('READY', '1', from)).toBe(-1);
    const exit = await d.stop('SIGTERM');
    await held.release();
    expect(exit.code).toBe(0);
    expect(d.lines.join('\n')).not.toMatch(/internal error/);
    expect(d.lines.join('\n')).toMatch(/event=daemon_stopped before_ready=true/);
    expect(suite.ns.indexOf('READY', '1', from)).toBe(-1);
  });

  it('sends READY=1 as soon as the tool lets go of the pass lock', async () => {
    const w = await world();
    await mkdir(w.state, { recursive: true });
    const held = await lockPass(w.state, 'requeue');
    const from = suite.ns.messages.length;
    const d = startDaemon(w, { env: suite.ns.env(2_000_000) });
    await sleep(800);
    expect(suite.ns.indexOf('READY', '1', from)).toBe(-1);
    const releasedAt = Date.now();
    await held.release();
    const ready = await suite.ns.waitForField('READY', '1', 5_000, from);
    expect(ready.at - releasedAt).toBeLessThan(2_000);
    expect((await d.stop()).code).toBe(0);
  });
});

describe('SIGHUP', () => {
  it('sends RELOADING=1 with MONOTONIC_USEC, then READY=1, and the new config takes effect', async () => {
    const w = await world();
    const from = suite.ns.messages.length;
    const d = startDaemon(w, { env: suite.ns.env(2_000_000) });
    await suite.ns.waitForField('READY', '1', 15_000, from);

    // The new config quarantines anything over 10 bytes: visible proof that it was read.
    await w.writeConfig({ 'ship.max_episode_bytes': 10 });
    const before = monotonicUsec();
    d.child.kill('SIGHUP');
    const reloading = await suite.ns.waitForField('RELOADING', '1', 5_000, from);
    const after = monotonicUsec();
    const mono = BigInt(reloading.fields.MONOTONIC_USEC ?? '0');
    expect(mono).toBeGreaterThanOrEqual(before);
    expect(mono).toBeLessThanOrEqual(after);
    const i = suite.ns.messages.indexOf(reloading);
    await suite.ns.waitForField('READY', '1', 5_000, i + 1);
    await d.waitLog(/event=reloaded/);

    await w.makeEpisode('ep-big', { 'data.bin': 'more than ten bytes of payload' });
    await d.waitLog(/event=quarantined .*episode=ep-big .*reason=too_large/, 10_000);
    expect(await w.list(w.quarantine)).toEqual(['ep-big']);
    expect((await d.stop()).code).toBe(0);
  });

  it('answers a reload during a long upload at once (READY=1 within a second), and the upload goes on', async () => {
    const w = await world();
    await w.writeConfig({ 'ship.max_bytes_per_s': 150_000 });
    await w.makeEpisode('ep-long', { 'data.bin': randomBytes(600_000) });
    const from = suite.ns.messages.length;
    const d = startDaemon(w, { env: suite.ns.env(2_000_000) });
    await suite.ns.waitFor((m) => /^shipping ep-long/.test(m.fields.STATUS ?? ''), 15_000, from);
    d.child.kill('SIGHUP');
    const reloading = await suite.ns.waitForField('RELOADING', '1', 5_000, from);
    const ready = await suite.ns.waitForField('READY', '1', 5_000, suite.ns.messages.indexOf(reloading) + 1);
    expect(ready.at - reloading.at).toBeLessThan(1_000);
    expect(d.lines.join('\n')).not.toMatch(/event=shipped/);
    await d.waitLog(/event=shipped .*episode=ep-long/, 15_000);
    expect(await w.stored()).toEqual(['ep-long.tar.zst']);
    expect((await d.stop()).code).toBe(0);
  });

  it('a SIGHUP before READY=1 is applied after the recovery, never with an early READY=1', async () => {
    const w = await world();
    await mkdir(w.state, { recursive: true });
    const held = await lockPass(w.state, 'requeue');
    const from = suite.ns.messages.length;
    const d = startDaemon(w, { env: suite.ns.env(2_000_000) });
    await d.catches(1); // SIGHUP: the handler is in place (node's default would end it)
    // state/lock appears once the daemon holds the instance lock: it listens for SIGHUP by then.
    await until('the instance lock', async () => (await w.list(w.state)).includes('lock'));
    d.child.kill('SIGHUP');
    await sleep(500);
    expect(suite.ns.indexOf('READY', '1', from)).toBe(-1);
    await held.release();
    await d.waitLog(/event=reloaded/, 5_000);
    await until('two READY=1', () => suite.ns.messages.slice(from).filter((m) => m.fields.READY === '1').length === 2, 5_000);
    const log = d.lines.join('\n');
    expect(log.indexOf('event=daemon_ready')).toBeLessThan(log.indexOf('event=reloaded'));
    expect((await d.stop()).code).toBe(0);
  });

  it('refuses a broken config (event=reload_refused), says READY=1 again and goes on shipping with the old one', async () => {
    const w = await world();
    const from = suite.ns.messages.length;
    const d = startDaemon(w, { env: suite.ns.env(2_000_000) });
    await suite.ns.waitForField('READY', '1', 15_000, from);

    await writeFile(w.configFile, '[ship]\nscan_interval_s = "often"\nbogus_key = 1\n');
    d.child.kill('SIGHUP');
    const reloading = await suite.ns.waitForField('RELOADING', '1', 5_000, from);
    await suite.ns.waitForField('READY', '1', 5_000, suite.ns.messages.indexOf(reloading) + 1);
    const refused = await d.waitLog(/event=reload_refused/);
    expect(refused).toMatch(/lab-host\.toml/);
    await suite.ns.waitFor((m) => /reload refused/.test(m.fields.STATUS ?? ''), 5_000, from);

    await w.makeEpisode('ep-after');
    await until('ep-after in shipped/', async () => (await w.list(w.shipped)).includes('ep-after'), 15_000);
    expect(await w.stored()).toEqual(['ep-after.tar.zst']);
    expect(d.done()).toBe(false);
    expect((await d.stop()).code).toBe(0);
  });
});
