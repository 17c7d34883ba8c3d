// systemd's side of sd_notify, for tests: a real AF_UNIX datagram socket (bound by a small
// python3 helper, since Node cannot bind one) whose messages are collected with the time
// they arrived and the pid that sent them. Pass `env()` to the daemon as its environment.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

const HELPER = join(dirname(new URL(import.meta.url).pathname), 'notify-socket.py');

export interface NotifyMessage {
  /** Epoch ms when the datagram arrived. */
  readonly at: number;
  /** The sender's pid (SCM_CREDENTIALS), or null when the kernel did not say. */
  readonly pid: number | null;
  /** `KEY=VALUE` lines of the datagram. */
  readonly fields: Readonly<Record<string, string>>;
  readonly raw: string;
}

function parseFields(raw: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of raw.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1);
  }
  return fields;
}

export class NotifySocket {
  readonly path: string;
  readonly messages: NotifyMessage[] = [];
  readonly #dir: string;
  readonly #child: ChildProcess;
  #waiters: (() => void)[] = [];

  private constructor(dir: string, child: ChildProcess) {
    this.#dir = dir;
    this.path = join(dir, 'notify.sock');
    this.#child = child;
  }

  /** Bind a fresh socket in a temp folder; resolves once it listens. */
  static async open(): Promise<NotifySocket> {
    const dir = await mkdtemp(join(tmpdir(), 'shipper-notify-'));
    const child = spawn('python3', [HELPER, join(dir, 'notify.sock')], { stdio: ['pipe', 'pipe', 'inherit'] });
    const ns = new NotifySocket(dir, child);
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`notify-socket.py exited with ${code} before it listened`)));
      lines.on('line', (line) => {
        const j = JSON.parse(line) as { listening?: string; t?: number; pid?: number | null; msg?: string };
        if (j.listening) {
          resolve();
          return;
        }
        const raw = j.msg ?? '';
        ns.messages.push({ at: j.t ?? Date.now(), pid: j.pid ?? null, fields: parseFields(raw), raw });
        const w = ns.#waiters;
        ns.#waiters = [];
        for (const f of w) f();
      });
    });
    return ns;
  }

  /** The environment systemd would give the service (WATCHDOG_PID deliberately unset). */
  env(watchdogUsec?: number): NodeJS.ProcessEnv {
    return { NOTIFY_SOCKET: this.path, ...(watchdogUsec !== undefined ? { WATCHDOG_USEC: String(watchdogUsec) } : {}) };
  }

  /** Messages that carry `key` (and, if given, that value). */
  with(key: string, value?: string): NotifyMessage[] {
    return this.messages.filter((m) => key in m.fields && (value === undefined || m.fields[key] === value));
  }

  /** Index of the first message carrying `key` (=value), or -1. */
  indexOf(key: string, value?: string, from = 0): number {
    return this.messages.findIndex((m, i) => i >= from && key in m.fields && (value === undefined || m.fields[key] === value));
  }

  /** Wait for a message matching `pred` among those from index `from` on. */
  async waitFor(pred: (m: NotifyMessage) => boolean, timeoutMs = 10_000, from = 0): Promise<NotifyMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(from).find(pred);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        const seen = this.messages.slice(from).map((m) => m.raw.replace(/\n/g, ' ').trim());
        throw new Error(`no matching notify message within ${timeoutMs} ms; got ${seen.length}: ${JSON.stringify(seen.slice(-8))}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Wait for a message with `key` (=value). */
  waitForField(key: string, value?: string, timeoutMs = 10_000, from = 0): Promise<NotifyMessage> {
    return this.waitFor((m) => key in m.fields && (value === undefined || m.fields[key] === value), timeoutMs, from);
  }

  async close(): Promise<void> {
    this.#child.stdin?.end();
    this.#child.kill();
    await rm(this.#dir, { recursive: true, force: true });
  }
}

/** Largest gap (ms) between consecutive arrival times, counting from `start` to `end` too. */
export function largestGap(times: number[], start?: number, end?: number): number {
  const all = [...(start !== undefined ? [start] : []), ...times, ...(end !== undefined ? [end] : [])].sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < all.length; i++) gap = Math.max(gap, all[i]! - all[i - 1]!);
  return gap;
}
