// WATCHDOG=1 as proof of progress, never from a free-running timer. The daemon calls
// `progress()` whenever bytes move in a pack or an upload, at the end of every pass and at
// the end of every idle sleep slice; the gate forwards at most one ping per `minGapMs`. A
// stalled loop, a deadlocked pass or an upload that moves no byte stops calling it, the
// pings stop, and systemd restarts the daemon.
//
// The numbers, as fractions of WATCHDOG_USEC: pings at least a quarter apart, idle sleep
// slices at most a fifth long. A call that comes just under `minGapMs` after the last ping
// is dropped, and the next one comes at most a slice (or one short idle pass) later, so a
// turning loop pings at least every 1/4 + 1/5 < 1/2 of WATCHDOG_USEC (SPEC: "at most half").

import type { Notifier } from './notifier.js';

/** Fractions of WATCHDOG_USEC (see the header). */
const MIN_GAP = 0.25;
const SLICE = 0.2;

export class WatchdogGate {
  readonly #notifier: Notifier;
  readonly #minGapMs: number;
  readonly #sliceMs: number;
  readonly #now: () => number;
  #last = -Infinity;
  #pings = 0;

  constructor(notifier: Notifier, now: () => number = () => performance.now()) {
    this.#notifier = notifier;
    const usec = notifier.watchdogUsec;
    this.#minGapMs = usec === null ? Infinity : (usec / 1000) * MIN_GAP;
    this.#sliceMs = usec === null ? Infinity : (usec / 1000) * SLICE;
    this.#now = now;
  }

  /** Whether systemd expects pings at all. */
  get enabled(): boolean {
    return this.#notifier.watchdogUsec !== null;
  }

  /** The longest an idle sleep may last between two pings. */
  get sliceMs(): number {
    return this.#sliceMs;
  }

  get pings(): number {
    return this.#pings;
  }

  /** Something moved: ping unless one went out less than minGapMs ago. */
  progress(): void {
    if (!this.enabled) return;
    const t = this.#now();
    if (t - this.#last < this.#minGapMs) return;
    this.#last = t;
    this.#pings++;
    this.#notifier.watchdog();
  }
}
