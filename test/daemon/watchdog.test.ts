// WATCHDOG=1 through the real process: tied to progress, never to a free-running timer. With
// WATCHDOG_USEC = 2 s the pings must come at most a second apart while the loop turns or
// bytes move, and must stop when the upload hangs or the process is stopped.

import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAll, sleep, startDaemon, until } from '../helpers/daemon.js';
import { NotifySocket, largestGap } from '../helpers/notify.js';
import { startStallReceiver, type StallReceiver } from '../helpers/stall-receiver.js';
import { makeWorld, type World } from '../helpers/world.js';

const USEC = 2_000_000;
const USEC_MS = USEC / 1000;

let ns: NotifySocket;
const worlds: World[] = [];
const stalls: StallReceiver[] = [];

beforeAll(async () => {
  ns = await NotifySocket.open();
});
afterEach(async () => {
  await killAll();
  await Promise.all(stalls.splice(0).map((s) => s.close()));
  await Promise.all(worlds.splice(0).map((w) => w.close()));
});
afterAll(async () => {
  await ns.close();
});

function pingTimes(from: number, since = 0, until = Infinity): number[] {
  return ns.messages
    .slice(from)
    .filter((m) => m.fields.WATCHDOG === '1' && m.at >= since && m.at <= until)
    .map((m) => m.at);
}

/** The time of the last WATCHDOG=1 so far (from index `from` on). */
function lastPing(from: number): number {
  const t = pingTimes(from);
  return t.length ? t[t.length - 1]! : 0;
}

describe('the watchdog', () => {
  it('keeps pinging while idle, at most half of WATCHDOG_USEC apart', async () => {
    const w = await makeWorld();
    worlds.push(w);
    const from = ns.messages.length;
    const d = startDaemon(w, { env: ns.env(USEC) });
    const ready = await ns.waitForField('READY', '1', 15_000, from);
    await sleep(2 * USEC_MS);
    const end = Date.now();
    const pings = pingTimes(from, ready.at, end);
    expect(pings.length).toBeGreaterThanOrEqual(4);
    expect(largestGap(pings, ready.at, end)).toBeLessThanOrEqual(USEC_MS / 2);
    // Not a flood either: the gate spaces them at least a quarter of WATCHDOG_USEC apart.
    expect(pings.length).toBeLessThanOrEqual(Math.ceil((end - ready.at) / (USEC_MS / 4)) + 1);
    expect((await d.stop()).code).toBe(0);
  });

  it('keeps pinging during a slow upload that moves, and STATUS shows its progress', async () => {
    const w = await makeWorld();
    worlds.push(w);
    // 600 kB of incompressible data at 150 kB/s: an upload of about four seconds, two
    // WATCHDOG_USEC, during which only the bytes that move can keep the pings coming.
    await w.writeConfig({ 'ship.max_bytes_per_s': 150_000 });
    await w.makeEpisode('ep-slow', { 'data.bin': randomBytes(600_000) });
    const from = ns.messages.length;
    const d = startDaemon(w, { env: ns.env(USEC) });
    const shipping = await ns.waitFor((m) => /^shipping ep-slow/.test(m.fields.STATUS ?? ''), 15_000, from);
    await d.waitLog(/event=shipped .*episode=ep-slow/, 30_000);
    const done = Date.now();
    expect(done - shipping.at).toBeGreaterThan(USEC_MS);
    const pings = pingTimes(from, shipping.at, done);
    expect(largestGap(pings, shipping.at, done)).toBeLessThanOrEqual(USEC_MS / 2);
    const percents = ns.messages
      .slice(from)
      .map((m) => /^shipping ep-slow \((\d+)%\)/.exec(m.fields.STATUS ?? '')?.[1])
      .filter((p): p is string => p !== undefined)
      .map(Number);
    expect(percents.length).toBeGreaterThanOrEqual(2);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(await w.stored()).toEqual(['ep-slow.tar.zst']);
    expect((await d.stop()).code).toBe(0);
  });

  it('stops pinging when the upload hangs (the receiver stops reading), so systemd would restart it', async () => {
    const w = await makeWorld({ receiver: false });
    worlds.push(w);
    const stall = await startStallReceiver(w.pki);
    stalls.push(stall);
    w.url = stall.url;
    // The client's own idle timeout must not end the upload first.
    await w.writeConfig({ 'receiver.idle_timeout_s': 120 });
    await w.makeEpisode('ep-hang', { 'data.bin': randomBytes(24 * 1024 * 1024) });
    const from = ns.messages.length;
    const d = startDaemon(w, { env: ns.env(USEC) });
    await ns.waitForField('READY', '1', 15_000, from);
    expect(await stall.putArrived).toBe('/v1/episodes/ep-hang');

    // Bytes flow until the buffers are full; from then on nothing may ping.
    const silentFor = 2.5 * USEC_MS;
    await until('WATCHDOG=1 to stop', () => lastPing(from) > 0 && Date.now() - lastPing(from) > silentFor, 30_000, 100);
    expect(d.done()).toBe(false);
    expect(d.lines.join('\n')).not.toMatch(/event=shipped/);
    const status = ns.messages.slice(from).filter((m) => m.fields.STATUS !== undefined).pop();
    expect(status?.fields.STATUS).toMatch(/^shipping ep-hang/);

    // SIGTERM aborts the hung upload after the grace period: exit 0, the episode kept.
    const exit = await d.stop('SIGTERM', 20_000);
    expect(exit.code).toBe(0);
    expect(exit.ms).toBeLessThan(10_000);
    expect(await w.list(w.episodes)).toEqual(['ep-hang']);
    expect(await w.list(w.shipped)).toEqual([]);
  });

  it('stops pinging while the process is SIGSTOPped and resumes after SIGCONT', async () => {
    const w = await makeWorld();
    worlds.push(w);
    const from = ns.messages.length;
    const d = startDaemon(w, { env: ns.env(USEC) });
    await ns.waitForField('READY', '1', 15_000, from);
    await ns.waitForField('WATCHDOG', '1', 5_000, from);

    d.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    await sleep(2 * USEC_MS);
    const during = pingTimes(from, stoppedAt + 50);
    expect(during).toEqual([]);

    d.child.kill('SIGCONT');
    const contAt = Date.now();
    const resumed = await ns.waitFor((m) => m.fields.WATCHDOG === '1' && m.at >= contAt, USEC_MS, from);
    expect(resumed.at - contAt).toBeLessThan(USEC_MS / 2);
    await sleep(USEC_MS);
    expect(largestGap(pingTimes(from, resumed.at), resumed.at, Date.now())).toBeLessThanOrEqual(USEC_MS / 2);
    expect((await d.stop()).code).toBe(0);
  });
});
