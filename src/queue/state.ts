// The daemon's own small files in state/, each written atomically (temp, fsync, rename,
// fsync). A file that is missing or unreadable (say, cut short by a disk that filled) is
// treated as empty: state is an optimisation and a record, never a reason to stop.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic.js';

export interface EpisodeRetry {
  attempts: number;
  /** Epoch ms before which the daemon does not try this episode again. */
  next_at: number;
  last_class: string;
  last_status: number | null;
  last_error: string;
}

export interface ReceiverRetry {
  failures: number;
  next_at: number;
  last_class: string | null;
  last_error: string | null;
}

export interface RetryState {
  receiver: ReceiverRetry;
  episodes: Record<string, EpisodeRetry>;
}

export interface LastPass {
  started_at: string;
  finished_at: string;
  duration_ms: number;
  shipped: number;
  quarantined: number;
  retried: number;
  bytes: number;
  outcome: string;
  last_success_at: string | null;
  last_error: { at: string; class: string; message: string } | null;
}

export interface CleanupState {
  last_run_at: number;
}

export const STATE_FILES = { retry: 'retry.json', lastPass: 'last-pass.json', cleanup: 'cleanup.json', counters: 'counters.json' } as const;

export function emptyRetry(): RetryState {
  return { receiver: { failures: 0, next_at: 0, last_class: null, last_error: null }, episodes: {} };
}

export async function readState<T>(stateDir: string, name: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(join(stateDir, name), 'utf8')) as T;
  } catch {
    return null;
  }
}

export async function writeState(stateDir: string, name: string, value: unknown): Promise<void> {
  await writeFileAtomic(join(stateDir, name), JSON.stringify(value, null, 1) + '\n', { mode: 0o640 });
}

export async function readRetry(stateDir: string): Promise<RetryState> {
  const r = await readState<RetryState>(stateDir, STATE_FILES.retry);
  if (!r || typeof r !== 'object' || !r.receiver || !r.episodes) return emptyRetry();
  return r;
}
