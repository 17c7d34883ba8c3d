// The pacer keeps small-file I/O synchronous while the page cache answers in microseconds,
// moves it to the threadpool when the disk is slow (not when one call was unlucky), and
// gives the event loop a turn every few milliseconds of synchronous work.

import { describe, expect, it } from 'vitest';
import { Pacer, SLICE_MS, SLOW_CALL_MS } from '../../src/pack/pacer.js';

/** A clock that only moves when told to. */
function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('Pacer', () => {
  it('starts synchronous and stays so while calls are fast', () => {
    const clock = fakeClock();
    const p = new Pacer({ now: clock.now });
    for (let i = 0; i < 1000; i++) p.timed(() => clock.advance(0.01));
    expect(p.sync).toBe(true);
  });

  it('stays synchronous after isolated slow calls (a descheduled thread on a busy host)', () => {
    const clock = fakeClock();
    const p = new Pacer({ now: clock.now });
    for (let i = 0; i < 200; i++) p.timed(() => clock.advance(i % 10 === 0 ? SLOW_CALL_MS + 1 : 0.01));
    expect(p.sync).toBe(true);
  });

  it('switches to the threadpool for good after a run of slow calls (a cold or remote disk)', () => {
    const clock = fakeClock();
    const p = new Pacer({ now: clock.now });
    p.timed(() => clock.advance(SLOW_CALL_MS + 1));
    p.timed(() => clock.advance(SLOW_CALL_MS + 1));
    expect(p.sync).toBe(true);
    p.timed(() => clock.advance(SLOW_CALL_MS + 1));
    expect(p.sync).toBe(false);
    for (let i = 0; i < 100; i++) p.timed(() => clock.advance(0.01));
    expect(p.sync).toBe(false);
  });

  it('counts a call that throws like any other', () => {
    const clock = fakeClock();
    const p = new Pacer({ now: clock.now });
    for (let i = 0; i < 3; i++) {
      expect(() =>
        p.timed(() => {
          clock.advance(SLOW_CALL_MS + 1);
          throw new Error('EIO');
        }),
      ).toThrow('EIO');
    }
    expect(p.sync).toBe(false);
  });

  it('yields to the event loop once a slice of synchronous work is used up, not before', async () => {
    const clock = fakeClock();
    let turns = 0;
    const p = new Pacer({ now: clock.now, yieldTurn: async () => void turns++ });
    clock.advance(SLICE_MS - 1);
    await p.breathe();
    expect(turns).toBe(0);
    clock.advance(1);
    await p.breathe();
    expect(turns).toBe(1);
    await p.breathe();
    expect(turns).toBe(1);
  });

  it('can start on the threadpool', () => {
    expect(new Pacer({ threadpool: true }).sync).toBe(false);
  });
});
