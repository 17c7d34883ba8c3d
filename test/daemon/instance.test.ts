// One shipper per set of folders, seen from outside: a second daemon, or an operator's
// `--once`, exits 75 at once and names the pid of the daemon that holds the lock. And the
// STATUS= line that `systemctl status` shows carries the counts.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { daemonSuite, startDaemon } from '../helpers/daemon.js';

const suite = daemonSuite();
const world = () => suite.world();

describe('a second shipper on the same folders', () => {
  it('a second daemon exits 75 at once, naming the first one’s pid; the first goes on', async () => {
    const w = await world();
    const from = suite.ns.messages.length;
    const first = startDaemon(w, { env: suite.ns.env(2_000_000) });
    await suite.ns.waitForField('READY', '1', 15_000, from);

    const t0 = performance.now();
    const second = await w.run([], { timeoutMs: 15_000 });
    expect(second.code).toBe(75);
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(second.stderr).toContain(`pid ${first.pid}`);
    expect(second.stderr).toMatch(/daemon/);

    expect(first.done()).toBe(false);
    await w.makeEpisode('ep-still');
    await first.waitLog(/event=shipped .*episode=ep-still/, 15_000);
    expect((await first.stop()).code).toBe(0);
  });

  it('`--once` while the daemon runs exits 75 and names the daemon’s pid', async () => {
    const w = await world();
    const from = suite.ns.messages.length;
    const d = startDaemon(w, { env: suite.ns.env(2_000_000) });
    await suite.ns.waitForField('READY', '1', 15_000, from);
    const once = await w.run(['--once'], { timeoutMs: 15_000 });
    expect(once.code).toBe(75);
    expect(once.stderr).toContain(`pid ${d.pid}`);
    expect(once.stderr).toMatch(/systemctl stop shipper/);
    expect((await d.stop()).code).toBe(0);

    // Once the daemon is gone, the lock is free again.
    const after = await w.run(['--once'], { timeoutMs: 15_000 });
    expect(after.code).toBe(0);
  });
});

describe('STATUS=', () => {
  it('carries the pending, shipped and quarantined counts', async () => {
    const w = await world();
    await mkdir(join(w.shipped, 'old-1'), { recursive: true });
    await mkdir(join(w.quarantine, 'old-q'), { recursive: true });
    const from = suite.ns.messages.length;
    const d = startDaemon(w, { env: suite.ns.env(2_000_000) });
    await suite.ns.waitFor((m) => /^idle: 0 pending, 1 shipped, 1 quarantined/.test(m.fields.STATUS ?? ''), 15_000, from);

    await w.makeEpisode('ep-waiting', { 'data.bin': 'no marker yet' }, { meta: null });
    await w.makeEpisode('ep-bad-meta', undefined, { meta: '{ not json' });
    await w.makeEpisode('ep-good');
    const status = await suite.ns.waitFor((m) => /^idle: 1 pending, 2 shipped, 2 quarantined/.test(m.fields.STATUS ?? ''), 15_000, from);
    expect(status.fields.STATUS).toMatch(/last success \d{4}-\d\d-\d\dT/);
    expect(await w.list(w.shipped)).toEqual(['ep-good', 'old-1']);
    expect(await w.list(w.quarantine)).toEqual(['ep-bad-meta', 'old-q']);
    expect((await d.stop()).code).toBe(0);
  });
});
