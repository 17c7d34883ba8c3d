import { describe, expect, it } from 'vitest';
import { Pipeline } from '../../src/queue/pipeline.js';

const tick = (ms = 1) => new Promise((r) => setTimeout(r, ms));

describe('the pass pipeline', () => {
  it('hands every product to a consumer, in order, never holding more than `depth` waiting', async () => {
    let waiting = 0;
    let most = 0;
    const consumed: number[] = [];
    const pipe = new Pipeline<number, string>({
      items: [1, 2, 3, 4, 5, 6, 7, 8],
      depth: 2,
      consumers: 2,
      stopped: () => false,
      produce: async (n) => {
        await tick();
        waiting++;
        most = Math.max(most, waiting);
        return n % 4 === 0 ? null : `p${n}`; // the producer may deal with an item itself
      },
      consume: async (n, p) => {
        waiting--;
        expect(p).toBe(`p${n}`);
        consumed.push(n);
        await tick(5);
      },
    });
    await pipe.run();
    expect(consumed.sort()).toEqual([1, 2, 3, 5, 6, 7]);
    expect(most).toBeLessThanOrEqual(3); // depth 2, plus the one being produced
  });

  it('overlaps producing the next item with consuming the current ones', async () => {
    const events: string[] = [];
    const pipe = new Pipeline<number, number>({
      items: [1, 2, 3],
      depth: 1,
      consumers: 1,
      stopped: () => false,
      produce: async (n) => {
        events.push(`produce ${n}`);
        await tick(5);
        return n;
      },
      consume: async (n) => {
        events.push(`consume ${n} start`);
        await tick(20);
        events.push(`consume ${n} end`);
      },
    });
    await pipe.run();
    expect(events.indexOf('produce 2')).toBeLessThan(events.indexOf('consume 1 end'));
  });

  it('takes no new work once stopped, and a wake makes sleeping workers notice', async () => {
    let stop = false;
    const consumed: number[] = [];
    const pipe = new Pipeline<number, number>({
      items: [1, 2, 3, 4],
      depth: 1,
      consumers: 1,
      stopped: () => stop,
      produce: async (n) => n,
      consume: async (n) => {
        consumed.push(n);
        stop = true;
        pipe.wake();
      },
    });
    await pipe.run();
    expect(consumed).toEqual([1]);
  });

  it('stops everything on an exception and rejects with it once every worker returned', async () => {
    const consumed: number[] = [];
    const pipe = new Pipeline<number, number>({
      items: [1, 2, 3, 4, 5],
      depth: 1,
      consumers: 2,
      stopped: () => false,
      produce: async (n) => {
        if (n === 3) throw new Error('boom');
        return n;
      },
      consume: async (n) => {
        await tick(5);
        consumed.push(n);
      },
    });
    await expect(pipe.run()).rejects.toThrow('boom');
    expect(consumed.every((n) => n < 3)).toBe(true);
  });
});
