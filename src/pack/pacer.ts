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
// the watchdog keep going). As soon as one such call takes longer than SLOW_CALL_MS — a cold
// disk, a network file system — the rest of the pack switches to the threadpool, where
// several reads in flight hide the latency and a hung disk cannot freeze the event loop.
// Large files are always read asynchronously, in big chunks (pack.ts).

import { setImmediate as nextTurn } from 'node:timers/promises';

/** Longest stretch of synchronous file-system work between two turns of the event loop. */
export const SLICE_MS = 8;
/** A synchronous call slower than this switches the pack to the threadpool for good. */
export const SLOW_CALL_MS = 20;

export class Pacer {
  #sync: boolean;
  #sliceStart = performance.now();

  constructor(sync = true) {
    this.#sync = sync;
  }

  /** Whether the next calls should be synchronous. */
  get sync(): boolean {
    return this.#sync;
  }

  /** Run one synchronous call, timing it; a slow one ends the sync mode. */
  timed<T>(call: () => T): T {
    const t0 = performance.now();
    try {
      return call();
    } finally {
      if (performance.now() - t0 > SLOW_CALL_MS) this.#sync = false;
    }
  }

  /** Yield to the event loop if this slice of synchronous work has run long enough. */
  async breathe(): Promise<void> {
    if (performance.now() - this.#sliceStart < SLICE_MS) return;
    await nextTurn();
    this.#sliceStart = performance.now();
  }
}
