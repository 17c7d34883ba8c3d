// The notifier's choices: silence without NOTIFY_SOCKET, WATCHDOG_USEC only for this pid,
// and the `systemd-notify` fallback (used when the native module did not build) delivering
// the same messages to a real socket.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { createNotifier, monotonicUsec, watchdogUsecFrom } from '../../src/systemd/notifier.js';
import { NotifySocket } from '../helpers/notify.js';

const systemdNotify = (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, 'systemd-notify')));

let ns: NotifySocket;
beforeAll(async () => {
  ns = await NotifySocket.open();
});
afterAll(async () => {
  await ns.close();
});

describe('watchdogUsecFrom', () => {
  it('takes WATCHDOG_USEC only when WATCHDOG_PID is unset or this pid', () => {
    expect(watchdogUsecFrom({ WATCHDOG_USEC: '2000000' }, 42)).toBe(2_000_000);
    expect(watchdogUsecFrom({ WATCHDOG_USEC: '2000000', WATCHDOG_PID: '42' }, 42)).toBe(2_000_000);
    expect(watchdogUsecFrom({ WATCHDOG_USEC: '2000000', WATCHDOG_PID: '43' }, 42)).toBeNull();
    expect(watchdogUsecFrom({}, 42)).toBeNull();
    expect(watchdogUsecFrom({ WATCHDOG_USEC: '0' }, 42)).toBeNull();
    expect(watchdogUsecFrom({ WATCHDOG_USEC: 'soon' }, 42)).toBeNull();
  });
});

describe('createNotifier', () => {
  it('is silent without NOTIFY_SOCKET, even when WATCHDOG_USEC is set', () => {
    const n = createNotifier({ env: { WATCHDOG_USEC: '2000000' } });
    expect(n.via).toBe('none');
    expect(n.watchdogUsec).toBeNull();
    n.ready();
    n.watchdog();
    n.status('idle');
    n.stopping();
    n.reloading();
  });

  it.skipIf(!systemdNotify)('falls back to the systemd-notify program, which delivers every message (skipped when systemd-notify is not installed)', async () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => void lines.push(l), journald: false });
    const from = ns.messages.length;
    const n = createNotifier({ env: ns.env(4_000_000), log, prefer: 'systemd-notify' });
    expect(n.via).toBe('systemd-notify');
    expect(n.watchdogUsec).toBe(4_000_000);
    expect(lines.join('')).toMatch(/event=notify_fallback .*NotifyAccess=all/);

    const before = monotonicUsec();
    n.ready();
    await ns.waitForField('READY', '1', 5_000, from);
    n.status('idle: 0 pending, 3 shipped, 0 quarantined');
    await ns.waitForField('STATUS', 'idle: 0 pending, 3 shipped, 0 quarantined', 5_000, from);
    n.watchdog();
    await ns.waitForField('WATCHDOG', '1', 5_000, from);
    n.reloading();
    const r = await ns.waitForField('RELOADING', '1', 5_000, from);
    expect(BigInt(r.fields.MONOTONIC_USEC ?? '0')).toBeGreaterThanOrEqual(before);
    n.stopping();
    await ns.waitForField('STOPPING', '1', 5_000, from);
    expect(lines.join('')).not.toMatch(/notify_failed/);
  });
});
