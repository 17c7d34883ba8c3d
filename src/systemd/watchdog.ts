// WATCHDOG=1 as proof of progress, never from a free-running timer. The daemon calls
// `progress()` whenever bytes move in a pack or an upload, at the end of every pass and at
// the end of every idle sleep slice; the gate forwards at most one ping per `minGapMs`
// (just under half of WATCHDOG_USEC). A stalled loop, a deadlocked pass or an upload that
// moves no byte stops calling it, the pings stop, and systemd restarts the daemon.

import type { Notifier } from './notifier.js';

export class WatchdogGate {
  readonly #notifier: Notifier;
  readonly #minGapMs: number;
  readonly #now: () => number;
  #last = -Infinity;
  #pings = 0;

  constructor(notifier: Notifier, now: () => number = () => performance.now()) {
    this.#notifier = notifier;
    const usec = notifier.watchdogUsec;
    this.#minGapMs = usec === null ? Infinity : (usec / 1000) * 0.45;
    this.#now = now;
  }

  /** Whether systemd expects pings at all. */
  get enabled(): boolean {
    return this.#notifier.watchdogUsec !== null;
  }

  /** The longest an idle sleep may last between two pings. */
  get sliceMs(): number {
    return this.#minGapMs;
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
