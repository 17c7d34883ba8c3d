// The WatchdogGate on a fake clock (a scheduler unit test): it forwards progress as
// WATCHDOG=1 no more often than a quarter of WATCHDOG_USEC, idle slices are a fifth, and a
// loop that turns therefore pings at most half of WATCHDOG_USEC apart.

import { describe, expect, it } from 'vitest';
import type { Notifier } from '../../src/systemd/notifier.js';
import { WatchdogGate } from '../../src/systemd/watchdog.js';

function fakeNotifier(watchdogUsec: number | null): Notifier & { pings: number } {
  const n = {
    via: 'test',
    watchdogUsec,
    pings: 0,
    ready() {},
    watchdog() {
      n.pings++;
    },
    status() {},
    stopping() {},
    reloading() {},
  };
  return n;
}

describe('WatchdogGate', () => {
  it('is off, and never pings, when systemd expects no pings', () => {
    const n = fakeNotifier(null);
    const gate = new WatchdogGate(n, () => 0);
    gate.progress();
    expect(gate.enabled).toBe(false);
    expect(gate.sliceMs).toBe(Infinity);
    expect(n.pings).toBe(0);
  });

  it('pings on the first progress, then at most once per quarter of WATCHDOG_USEC', () => {
    let now = 1000;
    const n = fakeNotifier(2_000_000);
    const gate = new WatchdogGate(n, () => now);
    gate.progress();
    expect(n.pings).toBe(1);
    for (let i = 0; i < 49; i++) {
      now += 10;
      gate.progress(); // bytes moving every 10 ms for 490 ms
    }
    expect(n.pings).toBe(1);
    now += 10; // 500 ms = a quarter of 2 s
    gate.progress();
    expect(n.pings).toBe(2);
    expect(gate.pings).toBe(2);
  });

  it('keeps a loop that sleeps in slices and turns slowly under half of WATCHDOG_USEC between pings', () => {
    const usecMs = 2000;
    let now = 0;
    const times: number[] = [];
    const n = fakeNotifier(usecMs * 1000);
    n.watchdog = () => void times.push(now);
    const gate = new WatchdogGate(n, () => now);
    expect(gate.sliceMs).toBe(usecMs / 5);
    // The worst case for a gate: every slice ends a hair (0.1 ms) before the gap is over,
    // plus a short pass of 30 ms between slices.
    for (let i = 0; i < 200; i++) {
      now += gate.sliceMs - 0.1;
      gate.progress();
      now += 30;
      gate.progress();
    }
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(usecMs / 2);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(usecMs / 4);
  });

  it('stops pinging when nothing calls it: there is no timer of its own', () => {
    let now = 0;
    const n = fakeNotifier(2_000_000);
    const gate = new WatchdogGate(n, () => now);
    gate.progress();
    now += 60_000;
    expect(n.pings).toBe(1);
  });
});
