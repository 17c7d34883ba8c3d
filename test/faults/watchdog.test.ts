// The daemon's watchdog under faults on the path: WATCHDOG=1 keeps coming while the upload's
// bytes move (a trickle), stops while they do not (a stall: systemd would restart the
// daemon), comes back once the idle timeout ends the stalled request, and the next healthy
// pass ships the episode intact. A real NOTIFY_SOCKET (test/helpers/notify.ts) listens.

import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAll, startDaemon, type DaemonProc } from '../helpers/daemon.js';
import { NotifySocket, largestGap } from '../helpers/notify.js';
import { addEpisode, expectAllShipped, makeFaultWorld, type FaultWorld } from './helpers.js';

const WATCHDOG_USEC = 1_000_000; // pings at most every 0.45 s

let fw: FaultWorld;
let ns: NotifySocket;
beforeAll(async () => {
  fw = await makeFaultWorld({ 'ship.concurrency': 1, 'retry.initial_s': 0.5, 'retry.max_s': 1 });
  ns = await NotifySocket.open();
});
afterEach(async () => {
  await killAll();
});
afterAll(async () => {
  await ns?.close();
  await fw?.close();
});

/** Epoch ms of a daemon log line (it starts with an ISO time outside journald). */
function timeOf(line: string): number {
  return Date.parse(line.slice(0, 24));
}

function pings(from: number, to: number): number[] {
  return ns.with('WATCHDOG', '1').map((m) => m.at).filter((t) => t >= from && t <= to);
}

/** When the first PUT at or after proxy event `from` reached the proxy (epoch ms). */
async function putStarted(from: number): Promise<number> {
  for (let i = 0; i < 800; i++) {
    const e = fw.proxy.events.slice(from).find((x) => x.what === 'request' && x.method === 'PUT');
    if (e) return e.t!;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('no PUT reached the proxy within 20 s');
}

describe('WATCHDOG=1 follows the bytes of an upload', () => {
  it('keeps pinging while a slow upload trickles through, and ships it', async () => {
    await addEpisode(fw, 'ep-trickle', { 'payload.bin': randomBytes(24_000_000) });
    fw.proxy.setPlan({ request: (r) => (r.method === 'PUT' ? { kind: 'trickle', bytesPerSec: 4_000_000 } : { kind: 'pass' }) });
    await fw.w.writeConfig({ 'receiver.url': fw.proxy.url, 'ship.concurrency': 1, 'receiver.idle_timeout_s': 6, 'retry.initial_s': 0.5, 'retry.max_s': 1 });
    const from = fw.proxy.events.length;
    const d: DaemonProc = startDaemon(fw.w, { env: ns.env(WATCHDOG_USEC) });
    const started = await putStarted(from);
    const line = await d.waitLog(/event=shipped episode=ep-trickle/, 40_000);
    const shippedAt = timeOf(line);
    const during = pings(started, shippedAt);
    // ~6 s of upload: a ping at least every ~0.5 s while the shipper feeds the socket; the
    // last stretch is the kernel's send buffer draining, which the shipper cannot see.
    expect(shippedAt - started).toBeGreaterThan(3000);
    expect(during.length).toBeGreaterThan(4);
    expect(largestGap(during, started, shippedAt)).toBeLessThan(2500);
    expect((await d.stop()).code).toBe(0);
    fw.proxy.setPlan({});
    await expectAllShipped(fw);
  });

  it('stops pinging while an upload stalls, pings again once the idle timeout ends it, and the next pass ships it', async () => {
    await addEpisode(fw, 'ep-stall', { 'payload.bin': randomBytes(24_000_000) });
    let stalls = 0;
    fw.proxy.setPlan({ request: (r) => (r.method === 'PUT' && stalls++ === 0 ? { kind: 'stall', afterBytes: 500_000 } : { kind: 'pass' }) });
    await fw.w.writeConfig({ 'receiver.url': fw.proxy.url, 'ship.concurrency': 1, 'receiver.idle_timeout_s': 5, 'retry.initial_s': 0.5, 'retry.max_s': 1 });
    const from = fw.proxy.events.length;
    const d = startDaemon(fw.w, { env: ns.env(WATCHDOG_USEC) });
    const started = await putStarted(from);
    const stopLine = await d.waitLog(/event=pass_stopped class=unreachable code=SHIP_RECEIVER_UNREACHABLE kind=idle_timeout/, 30_000);
    const stoppedAt = timeOf(stopLine);
    // Once the socket buffers were full no byte moved, and no ping went out for seconds:
    // with WatchdogSec=1 systemd would have killed and restarted this daemon.
    expect(largestGap(pings(started, stoppedAt), started, stoppedAt)).toBeGreaterThan(3000);
    const line = await d.waitLog(/event=shipped episode=ep-stall/, 40_000);
    const after = pings(stoppedAt, timeOf(line));
    expect(after.length).toBeGreaterThan(0);
    expect(after[0]! - stoppedAt).toBeLessThan(1500);
    expect(d.lines.join('\n')).not.toMatch(/internal error|event=quarantined/);
    expect((await d.stop()).code).toBe(0);
    await expectAllShipped(fw);
  });
});
