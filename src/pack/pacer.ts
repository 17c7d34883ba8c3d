// How the walk and the small-file reads talk to the file system, decided per pack.
//
// Each async fs call is a round trip through the libuv threadpool: ~10 µs of main-thread
// time on a 2-core host, more than the syscall itself on a warm page cache. A small file
// needs lstat, open, fstat, read, fstat, close — six trips — so 20 000 small files crawled
// at ~20 MB/s, a sixth of `tar | zstd` (measured: bench/pack-only.mjs). The same calls made
// synchronously take ~15 µs per file in all.
//
// So the pack starts in "sync" mode: lstat and small-file reads run on the main thread, in
// slices of at most SLICE_MS between which the event loop gets a turn (uploads, signals,
// the watchdog keep going). When calls keep taking longer than SLOW_CALL_MS — a cold disk,
// a network file system — the rest of the pack switches to the threadpool, where several
// reads in flight hide the latency and a slow disk does not hold up the event loop. "Keep
// taking": a moving share of slow calls above SLOW_SHARE (three slow calls in a row from a
// clean start), because a single slow call is more often the thread being descheduled on
// a busy host than the disk, and the threadpool costs far more CPU on a busy host.
// Large files are always read asynchronously, in big chunks (produce.ts).
//
// What sync mode cannot help: a call that never returns (a hung NFS mount) blocks the
// event loop; the watchdog, which only hears from a pack that moves, then restarts us.

import { setImmediate as nextTurn } from 'node:timers/promises';

/** Longest stretch of synchronous file-system work between two turns of the event loop. */
export const SLICE_MS = 8;
/** A synchronous call slower than this counts as slow. */
export const SLOW_CALL_MS = 4;
/** Switch to the threadpool (for good) once the moving share of slow calls exceeds this. */
export const SLOW_SHARE = 0.25;
/** Weight of the newest call in the moving share. */
const SHARE_WEIGHT = 0.1;

export interface PacerOptions {
  /** Start on the threadpool instead (tests of that path; nothing else needs it). */
  threadpool?: boolean;
  /** Milliseconds, monotonic; production: performance.now. */
  now?: () => number;
  /** Give the event loop a turn; production: setImmediate. */
  yieldTurn?: () => Promise<unknown>;
}

export class Pacer {
  #sync: boolean;
  #slowShare = 0;
  readonly #now: () => number;
  readonly #yield: () => Promise<unknown>;
  #sliceStart: number;

  constructor(o: PacerOptions = {}) {
    this.#sync = !o.threadpool;
    this.#now = o.now ?? (() => performance.now());
    this.#yield = o.yieldTurn ?? (() => nextTurn());
    this.#sliceStart = this.#now();
  }

  /** Whether the next calls should be synchronous. */
  get sync(): boolean {
    return this.#sync;
  }

  /** Run one synchronous call, timing it; a run of slow ones ends the sync mode. */
  timed<T>(call: () => T): T {
    const t0 = this.#now();
    try {
      return call();
    } finally {
      const slow = this.#now() - t0 > SLOW_CALL_MS ? 1 : 0;
      this.#slowShare += SHARE_WEIGHT * (slow - this.#slowShare);
      if (this.#slowShare > SLOW_SHARE) this.#sync = false;
    }
  }

  /** Yield to the event loop if this slice of synchronous work has run long enough. */
  async breathe(): Promise<void> {
    if (this.#now() - this.#sliceStart < SLICE_MS) return;
    await this.#yield();
    this.#sliceStart = this.#now();
  }
}
