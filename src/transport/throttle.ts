// `ship.max_bytes_per_s` as one token bucket shared by every upload of the process. Callers
// take the bytes they are about to send; the bucket lets a short burst through (a tenth of
// a second's worth) and otherwise makes them wait, so concurrent uploads split the rate.

import { setTimeout as sleep } from 'node:timers/promises';

export interface Throttle {
  /** Resolve when `bytes` may be sent. Rejects with the signal's reason when aborted. */
  take(bytes: number, signal?: AbortSignal): Promise<void>;
  /** Largest chunk a caller should hand over at once, for a smooth rate. */
  readonly chunkBytes: number;
}

export const unlimited: Throttle = { take: async () => {}, chunkBytes: 1024 * 1024 };

export interface BucketOptions {
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export function tokenBucket(bytesPerS: number, options: BucketOptions = {}): Throttle {
  if (bytesPerS <= 0) return unlimited;
  const now = options.now ?? (() => performance.now());
  const wait = options.sleep ?? ((ms: number, signal?: AbortSignal) => sleep(ms, undefined, signal ? { signal } : {}));
  const burst = Math.max(16 * 1024, bytesPerS / 10);
  let tokens = burst;
  let last = now();
  // Waiters are served in order: each one reserves its bytes (tokens may go negative) and
  // sleeps until the debt it created is paid back.
  return {
    chunkBytes: Math.max(4096, Math.min(64 * 1024, Math.floor(bytesPerS / 20))),
    async take(bytes: number, signal?: AbortSignal): Promise<void> {
      const t = now();
      tokens = Math.min(burst, tokens + ((t - last) / 1000) * bytesPerS);
      last = t;
      tokens -= bytes;
      if (tokens >= 0) return;
      const ms = (-tokens / bytesPerS) * 1000;
      try {
        await wait(ms, signal);
      } catch (err) {
        tokens += bytes; // the bytes were never sent
        throw err;
      }
    },
  };
}
