// Who waits for a retry, and until when: per episode (transient answers, packs that met a
// changing file) and for the receiver as a whole (unreachable, auth, misrouted, a failed
// ping). Saved in state/retry.json so that restarts and crash loops keep backing off; an
// operator's `--once` ignores it.

import { backoffMs, type BackoffPolicy } from './backoff.js';
import { emptyRetry, type RetryState } from './state.js';

export class RetryBook {
  #state: RetryState;
  #policy: BackoffPolicy;
  #random: () => number;
  #dirty = false;

  constructor(state: RetryState = emptyRetry(), policy: BackoffPolicy, random: () => number = Math.random) {
    this.#state = state;
    this.#policy = policy;
    this.#random = random;
  }

  get state(): RetryState {
    return this.#state;
  }

  get dirty(): boolean {
    return this.#dirty;
  }

  saved(): void {
    this.#dirty = false;
  }

  setPolicy(policy: BackoffPolicy): void {
    this.#policy = policy;
  }

  episodeDue(id: string, now: number): boolean {
    const e = this.#state.episodes[id];
    return !e || e.next_at <= now;
  }

  receiverDue(now: number): boolean {
    return this.#state.receiver.next_at <= now;
  }

  /** Record a failed attempt of `id`; returns when it may be tried again (epoch ms). */
  episodeFailed(id: string, cls: string, status: number | null, message: string, retryAfterMs: number | null, now: number): number {
    const attempts = (this.#state.episodes[id]?.attempts ?? 0) + 1;
    const next = now + backoffMs(this.#policy, attempts, retryAfterMs, this.#random);
    this.#state.episodes[id] = { attempts, next_at: next, last_class: cls, last_status: status, last_error: message.slice(0, 500) };
    this.#dirty = true;
    return next;
  }

  episodeDone(id: string): void {
    if (this.#state.episodes[id]) {
      delete this.#state.episodes[id];
      this.#dirty = true;
    }
  }

  receiverFailed(cls: string, message: string, retryAfterMs: number | null, now: number): number {
    const r = this.#state.receiver;
    r.failures += 1;
    r.next_at = now + backoffMs(this.#policy, r.failures, retryAfterMs, this.#random);
    r.last_class = cls;
    r.last_error = message.slice(0, 500);
    this.#dirty = true;
    return r.next_at;
  }

  receiverOk(): void {
    const r = this.#state.receiver;
    if (r.failures !== 0 || r.next_at !== 0 || r.last_class !== null) {
      this.#state.receiver = { failures: 0, next_at: 0, last_class: null, last_error: null };
      this.#dirty = true;
    }
  }

  /** Forget episodes that are no longer waiting in episodes/. */
  keepOnly(ids: ReadonlySet<string>): void {
    for (const id of Object.keys(this.#state.episodes)) {
      if (!ids.has(id)) {
        delete this.#state.episodes[id];
        this.#dirty = true;
      }
    }
  }

  /** The earliest moment something becomes due among `ids` (and the receiver), or null. */
  nextDue(ids: Iterable<string>, now: number): number | null {
    let next: number | null = null;
    const r = this.#state.receiver.next_at;
    if (r > now) next = r;
    for (const id of ids) {
      const e = this.#state.episodes[id];
      if (e && e.next_at > now && (next === null || e.next_at < next)) next = e.next_at;
    }
    return next;
  }
}
