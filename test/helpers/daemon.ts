// The real daemon (`node bin/shipper.js --config …`) as a child process of a test, with its
// stderr kept line by line, helpers to wait for a log event, and a stop that reports the
// exit code and how long it took. `killAll()` in afterEach makes sure no daemon outlives
// its test.

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { NotifySocket } from './notify.js';
import { SHIPPER, makeWorld, type World } from './world.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface DaemonProc {
  readonly child: ChildProcess;
  readonly pid: number;
  /** stderr so far, one entry a line. */
  readonly lines: string[];
  stdout(): string;
  readonly exited: Promise<Exit>;
  /** Whether it has exited. */
  done(): boolean;
  /** Wait for a stderr line matching `re` (searching the lines seen so far too). */
  waitLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Wait until the process has a handler for signal number `signo` (Linux: SigCgt). */
  catches(signo: number, timeoutMs?: number): Promise<void>;
  /** Send `signal` and wait for the exit; `ms` is the time from signal to exit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit & { ms: number }>;
}

const running = new Set<ChildProcess>();

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  args?: string[];
  /** Extra stdio entries after stdin, stdout, stderr (e.g. 'pipe' for --notify-fd 3). */
  extraStdio?: ('pipe' | 'ignore')[];
}

export function startDaemon(w: World, options: StartOptions = {}): DaemonProc {
  const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', ...(options.extraStdio ?? [])];
  const child = spawn(process.execPath, [SHIPPER, '--config', w.configFile, ...(options.args ?? [])], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
    stdio,
  });
  running.add(child);
  const lines: string[] = [];
  let out = '';
  let partial = '';
  let waiters: (() => void)[] = [];
  const wakeAll = () => {
    const ws = waiters;
    waiters = [];
    for (const f of ws) f();
  };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    wakeAll();
  });
  let finished = false;
  const exited = new Promise<Exit>((resolve) => {
    child.on('close', (code, signal) => {
      finished = true;
      running.delete(child);
      if (partial) lines.push(partial);
      wakeAll();
      resolve({ code, signal });
    });
  });

  async function waitLog(re: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = lines.find((l) => re.test(l));
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0 || finished) {
        throw new Error(`no log line matching ${re} within ${timeoutMs} ms${finished ? ' (the daemon exited)' : ''}; stderr:\n${lines.slice(-30).join('\n')}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  return {
    child,
    pid: child.pid!,
    lines,
    stdout: () => out,
    exited,
    done: () => finished,
    waitLog,
    async catches(signo: number, timeoutMs = 10_000) {
      await until(`pid ${child.pid} to catch signal ${signo}`, async () => {
        const status = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
        const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status)?.[1];
        return mask !== undefined && (BigInt(`0x${mask}`) & (1n << BigInt(signo - 1))) !== 0n;
      }, timeoutMs, 20);
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000) {
      const t0 = performance.now();
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const e = await exited;
      clearTimeout(timer);
      return { ...e, ms: performance.now() - t0 };
    },
  };
}

/** SIGKILL every daemon a test left running (afterEach). */
export async function killAll(): Promise<void> {
  const left = [...running];
  await Promise.all(
    left.map(
      (c) =>
        new Promise<void>((resolve) => {
          c.once('close', () => resolve());
          c.kill('SIGCONT');
          c.kill('SIGKILL');
        }),
    ),
  );
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `check` until it returns true (or a value), failing after `timeoutMs`. */
export async function until<T>(what: string, check: () => Promise<T | false> | T | false, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface DaemonSuite {
  /** The NOTIFY_SOCKET listener of the file (opened before its first test). */
  readonly ns: NotifySocket;
  /** A fresh world, closed (with every daemon killed) after the test. */
  world(): Promise<World>;
}

/**
 * The hooks every daemon test file needs: one notify socket for the file, fresh worlds
 * per test, and every daemon killed and world closed after each test.
 */
export function daemonSuite(): DaemonSuite {
  const worlds: World[] = [];
  const suite = {
    ns: null as unknown as NotifySocket,
    async world() {
      const w = await makeWorld();
      worlds.push(w);
      return w;
    },
  };
  beforeAll(async () => {
    suite.ns = await NotifySocket.open();
  });
  afterEach(async () => {
    await killAll();
    await Promise.all(worlds.splice(0).map((w) => w.close()));
  });
  afterAll(async () => {
    await suite.ns.close();
  });
  return suite;
}
