// Run a system program (systemctl, journalctl) without a shell, with a time limit, and say
// plainly whether it exists. Output is collected whole or handed over line by line, so that
// a long journal never sits in memory twice.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ProgramResult {
  /** The program is not on PATH. */
  missing: boolean;
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Called for each stdout line instead of collecting stdout. */
  onLine?: (line: string) => void;
  signal?: AbortSignal;
}

export type RunProgram = (cmd: string, args: readonly string[], options: RunOptions) => Promise<ProgramResult>;

export const runProgram: RunProgram = (cmd, args, options) =>
  new Promise((resolve) => {
    const child = spawn(cmd, [...args], {
      env: { ...options.env, SYSTEMD_PAGER: '', PAGER: 'cat', SYSTEMD_COLORS: '0', LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let missing = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 20_000);
    if (options.onLine) {
      createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', options.onLine);
    } else {
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    }
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 64 * 1024) stderr += d;
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') missing = true;
      else stderr += err.message;
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ missing, code, stdout, stderr, timedOut });
    });
  });
