// What systemd (or s6) hears from the daemon. Three implementations behind one interface:
//   - `sd-notify` (libsystemd's sd_notify) when $NOTIFY_SOCKET is set and the module built;
//   - the `systemd-notify` program when it did not (the unit then needs NotifyAccess=all,
//     because the message comes from a child process); said once in the log;
//   - silence when $NOTIFY_SOCKET is unset: the daemon runs the same.
// `--notify-fd N` adds s6's readiness protocol: a newline on fd N, then close it.

import { execFile } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { silentLogger, type Logger } from '../log/logger.js';

export interface Notifier {
  ready(): void;
  /** WATCHDOG=1; rate-limiting is the WatchdogGate's job, not this one's. */
  watchdog(): void;
  status(text: string): void;
  stopping(): void;
  /** RELOADING=1 with MONOTONIC_USEC, as Type=notify-reload wants it. */
  reloading(): void;
  /** WATCHDOG_USEC in µs when systemd expects pings from this process, else null. */
  readonly watchdogUsec: number | null;
  /** Which implementation speaks: 'sd-notify', 'systemd-notify', 'none'. */
  readonly via: string;
}

interface SdNotify {
  sendState(state: string): void;
}

/** CLOCK_MONOTONIC in µs: libuv's hrtime reads that clock. */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

export function watchdogUsecFrom(env: NodeJS.ProcessEnv, pid: number = process.pid): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return null;
  return usec;
}

function loadSdNotify(): SdNotify | Error {
  try {
    const req = createRequire(import.meta.url);
    const mod = req('sd-notify') as SdNotify;
    if (typeof mod.sendState !== 'function') return new Error('sd-notify has no sendState');
    return mod;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

export interface NotifierOptions {
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  notifyFd?: number;
  /** For tests: force an implementation. */
  prefer?: 'sd-notify' | 'systemd-notify';
}

export function createNotifier(options: NotifierOptions = {}): Notifier {
  const env = options.env ?? process.env;
  const log = options.log ?? silentLogger;
  let notifyFd = options.notifyFd ?? null;
  const watchdogUsec = env.NOTIFY_SOCKET ? watchdogUsecFrom(env) : null;

  let send: (state: string) => void = () => {};
  let via = 'none';
  if (env.NOTIFY_SOCKET) {
    const sd = options.prefer === 'systemd-notify' ? new Error('systemd-notify preferred') : loadSdNotify();
    if (!(sd instanceof Error)) {
      send = (state) => {
        try {
          sd.sendState(state);
        } catch (err) {
          log.warn('notify_failed', { error: err instanceof Error ? err.message : String(err) });
        }
      };
      via = 'sd-notify';
    } else {
      log.warn('notify_fallback', {
        why: `the sd-notify module is not available (${sd.message.split('\n')[0]})`,
        using: 'systemd-notify',
        fix: 'install libsystemd-dev and run npm ci again; until then the unit needs NotifyAccess=all',
      });
      send = (state) => {
        const args = [`--pid=${process.pid}`, ...state.split('\n').filter(Boolean)];
        execFile('systemd-notify', args, { env: { ...process.env, NOTIFY_SOCKET: env.NOTIFY_SOCKET } }, (err) => {
          if (err) log.warn('notify_failed', { via: 'systemd-notify', error: err.message.split('\n')[0] });
        });
      };
      via = 'systemd-notify';
    }
  }

  return {
    via,
    watchdogUsec,
    ready() {
      send('READY=1');
      if (notifyFd !== null) {
        try {
          writeSync(notifyFd, '\n');
          closeSync(notifyFd);
        } catch (err) {
          log.warn('notify_fd_failed', { fd: notifyFd, error: err instanceof Error ? err.message : String(err) });
        }
        notifyFd = null;
      }
    },
    watchdog() {
      if (watchdogUsec !== null) send('WATCHDOG=1');
    },
    status(text) {
      send(`STATUS=${text.replace(/\n/g, ' ')}`);
    },
    stopping() {
      send('STOPPING=1');
    },
    reloading() {
      send(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`);
    },
  };
}
