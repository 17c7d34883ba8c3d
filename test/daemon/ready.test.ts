// Readiness through the real process: READY=1 only once the config is loaded, the folders
// checked and the last run recovered; silence without NOTIFY_SOCKET; s6's --notify-fd.

import { mkdir, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { daemonSuite, startDaemon, until } from '../helpers/daemon.js';

const suite = daemonSuite();
const world = () => suite.world();

describe('readiness', () => {
  it('sends READY=1 after the recovery of the last run and before the first episode is shipped', async () => {
    const w = await world();
    await mkdir(w.outbox, { recursive: true });
    const leftover = join(w.outbox, '.tmp-ep-0.deadbeef');
    await writeFile(leftover, 'half an archive from a crash');
    await w.makeEpisode('ep-1');
    const from = suite.ns.messages.length;

    const d = startDaemon(w, { env: suite.ns.env(2_000_000) });
    const ready = await suite.ns.waitForField('READY', '1', 15_000, from);
    expect(await w.list(w.outbox)).not.toContain('.tmp-ep-0.deadbeef');
    expect(ready.pid).toBe(d.pid);

    await d.waitLog(/event=shipped .*episode=ep-1/);
    expect(await w.list(w.shipped)).toEqual(['ep-1']);
    const log = d.lines.join('\n');
    const recovered = log.indexOf('event=recovered');
    const readyLine = log.indexOf('event=daemon_ready');
    const shipped = log.indexOf('event=shipped');
    expect(recovered).toBeGreaterThanOrEqual(0);
    expect(log).toMatch(/event=recovered .*tempsRemoved=1/);
    expect(readyLine).toBeGreaterThan(recovered);
    expect(shipped).toBeGreaterThan(readyLine);

    // On the socket too: READY=1 comes before any status that counts the episode shipped.
    const shippedStatus = await suite.ns.waitFor((m) => /\b1 shipped\b/.test(m.fields.STATUS ?? ''), 10_000, from);
    expect(suite.ns.messages.indexOf(shippedStatus)).toBeGreaterThan(suite.ns.messages.indexOf(ready));
    expect(suite.ns.messages.slice(from).filter((m) => m.fields.READY === '1')).toHaveLength(1);

    const exit = await d.stop();
    expect(exit.code).toBe(0);
  });

  it('runs and ships the same without NOTIFY_SOCKET, and says nothing to anyone', async () => {
    const w = await world();
    await w.makeEpisode('ep-quiet');
    const from = suite.ns.messages.length;
    const d = startDaemon(w, { env: {} });
    await d.waitLog(/event=daemon_ready .*notify=none/);
    await until('ep-quiet in shipped/', async () => (await w.list(w.shipped)).includes('ep-quiet'));
    expect(await w.stored()).toEqual(['ep-quiet.tar.zst']);
    expect(d.lines.join('\n')).not.toMatch(/notify_failed|notify_fallback/);
    expect(suite.ns.messages.length).toBe(from);
    const exit = await d.stop();
    expect(exit.code).toBe(0);
  });

  it('all messages come from the daemon process itself, so NotifyAccess=main is enough', async () => {
    const w = await world();
    const from = suite.ns.messages.length;
    const d = startDaemon(w, { env: suite.ns.env(2_000_000) });
    await suite.ns.waitForField('READY', '1', 15_000, from);
    await suite.ns.waitForField('WATCHDOG', '1', 5_000, from);
    await d.waitLog(/event=daemon_ready .*notify=sd-notify/);
    await d.stop();
    const mine = suite.ns.messages.slice(from);
    expect(mine.length).toBeGreaterThan(2);
    expect(new Set(mine.map((m) => m.pid))).toEqual(new Set([d.pid]));
  });

  it('--notify-fd N writes one newline on fd N once ready, then closes it', async () => {
    const w = await world();
    await mkdir(w.outbox, { recursive: true });
    await writeFile(join(w.outbox, '.tmp-leftover'), 'x');
    const d = startDaemon(w, { env: {}, args: ['--notify-fd', '3'], extraStdio: ['pipe'] });
    const fd3 = d.child.stdio[3] as Readable;
    let got = '';
    const closed = new Promise<void>((resolve) => {
      fd3.setEncoding('utf8');
      fd3.on('data', (s: string) => (got += s));
      fd3.on('end', () => resolve());
    });
    await closed;
    expect(got).toBe('\n');
    // Readiness means recovery is done.
    expect(await w.list(w.outbox)).not.toContain('.tmp-leftover');
    await d.waitLog(/event=daemon_ready/);
    const exit = await d.stop();
    expect(exit.code).toBe(0);
  });
});
