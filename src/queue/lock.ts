// Mutual exclusion between shippers on one set of folders.
//
// The lock is a listening Unix socket in the abstract namespace, named after the device
// and inode of the state folder. The kernel releases it the instant its holder dies (even
// by kill -9 or power loss), so there is no stale lock to detect or break, and no pid file
// race. Whoever finds it taken connects and reads the holder's pid, mode and start time.
// `state/lock` repeats that line for people who look at the folder.
//
// Two locks, both named after the state folder:
//   instance — held by the daemon for its whole life and by `--once`; a second one exits 75.
//   pass     — held while episodes move (a pass, recovery, housekeeping, requeue,
//              quarantine-unstamped). Tools that only move a few folders wait for it; the
//              daemon lets a waiter go first between two passes (the `waiting` socket).

import { stat } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, ShipperError, errnoOf, fsError } from '../errors.js';
import { unlinkIfExists, writeFileAtomic } from './atomic.js';

export type LockKind = 'instance' | 'pass' | 'waiting';

export interface HolderInfo {
  pid: number;
  mode: string;
  since: string;
}

export interface HeldLock {
  readonly kind: LockKind;
  release(): Promise<void>;
}

async function lockName(stateDir: string, kind: LockKind): Promise<string> {
  let st;
  try {
    st = await stat(stateDir, { bigint: true });
  } catch (err) {
    throw fsError(`lock: stat ${stateDir}`, err);
  }
  return `\0shipper-${st.dev}-${st.ino}-${kind}`;
}

function listen(name: string, info: HolderInfo): Promise<Server | null> {
  return new Promise((resolve, reject) => {
    const server = createServer((sock) => {
      sock.on('error', () => {});
      sock.end(JSON.stringify(info) + '\n');
    });
    server.once('error', (err) => {
      if (errnoOf(err) === 'EADDRINUSE') resolve(null);
      else reject(err);
    });
    server.listen({ path: name, exclusive: true }, () => {
      server.unref();
      resolve(server);
    });
  });
}

/** Who holds `kind`, or null when nobody does. */
export async function lockHolder(stateDir: string, kind: LockKind = 'instance'): Promise<HolderInfo | null> {
  const name = await lockName(stateDir, kind);
  return new Promise((resolve) => {
    const sock = createConnection({ path: name });
    let data = '';
    const done = (v: HolderInfo | null) => {
      sock.destroy();
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => done({ pid: 0, mode: 'unknown', since: '' }), 2000);
    sock.setEncoding('utf8');
    sock.on('data', (d) => (data += d));
    sock.on('end', () => {
      try {
        done(JSON.parse(data) as HolderInfo);
      } catch {
        done({ pid: 0, mode: 'unknown', since: '' });
      }
    });
    sock.on('error', (err) => {
      // ECONNREFUSED / ENOENT: nobody listens under that name.
      done(['ECONNREFUSED', 'ENOENT'].includes(errnoOf(err) ?? '') ? null : { pid: 0, mode: 'unknown', since: '' });
    });
  });
}

/** Take `kind` now, or return who holds it. */
export async function tryLock(stateDir: string, kind: LockKind, mode: string): Promise<HeldLock | HolderInfo> {
  const name = await lockName(stateDir, kind);
  const info: HolderInfo = { pid: process.pid, mode, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 5; attempt++) {
    const server = await listen(name, info);
    if (server) {
      if (kind === 'instance') {
        await writeFileAtomic(join(stateDir, 'lock'), `pid=${info.pid} mode=${mode} since=${info.since}\n`).catch(() => {});
      }
      return {
        kind,
        release: async () => {
          if (kind === 'instance') await unlinkIfExists(join(stateDir, 'lock')).catch(() => {});
          await new Promise<void>((r) => server.close(() => r()));
        },
      };
    }
    const holder = await lockHolder(stateDir, kind);
    if (holder) return holder;
    // The holder vanished between our listen and our connect: try again.
  }
  return { pid: 0, mode: 'unknown', since: '' };
}

export function isHeld(l: HeldLock | HolderInfo): l is HeldLock {
  return 'release' in l;
}

export function lockedError(stateDir: string, holder: HolderInfo): ShipperError {
  const who = holder.pid > 0 ? `pid ${holder.pid} (${holder.mode}, since ${holder.since})` : 'another process';
  return new ShipperError(
    ErrorCodes.LOCKED,
    `another shipper holds the lock on ${stateDir}: ${who}; wait for it to finish, or stop the daemon (systemctl stop shipper) for a manual pass`,
    { details: { holder_pid: holder.pid, holder_mode: holder.mode } },
  );
}

/** Take the instance lock or throw SHIP_LOCKED naming the holder. */
export async function lockInstance(stateDir: string, mode: string): Promise<HeldLock> {
  const l = await tryLock(stateDir, 'instance', mode);
  if (!isHeld(l)) throw lockedError(stateDir, l);
  return l;
}

/**
 * Take the pass lock, waiting while another process holds it. A tool (not the daemon)
 * announces that it waits, so that the daemon lets it go first between two passes.
 */
export async function lockPass(
  stateDir: string,
  mode: string,
  options: { signal?: AbortSignal; announce?: boolean; onWait?: (holder: HolderInfo) => void; pollMs?: number } = {},
): Promise<HeldLock> {
  let waiting: HeldLock | null = null;
  let told = false;
  try {
    for (;;) {
      const l = await tryLock(stateDir, 'pass', mode);
      if (isHeld(l)) return l;
      if (options.announce && !waiting) {
        const w = await tryLock(stateDir, 'waiting', mode);
        if (isHeld(w)) waiting = w;
      }
      if (!told) {
        options.onWait?.(l);
        told = true;
      }
      await sleep(options.pollMs ?? 50, undefined, options.signal ? { signal: options.signal } : {});
    }
  } finally {
    await waiting?.release();
  }
}

/** True when a tool waits for the pass lock (the daemon then pauses before its next pass). */
export async function someoneWaits(stateDir: string): Promise<boolean> {
  return (await lockHolder(stateDir, 'waiting')) !== null;
}
