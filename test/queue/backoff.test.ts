import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../src/queue/backoff.js';
import { RetryBook } from '../../src/queue/retry-book.js';

const policy = { initialMs: 5000, maxMs: 600_000 };

describe('backoff', () => {
  it('starts at retry.initial_s and doubles its ceiling with each failure', () => {
    expect(backoffMs(policy, 1, null, () => 0)).toBe(5000);
    expect(backoffMs(policy, 1, null, () => 1)).toBe(10_000);
    expect(backoffMs(policy, 3, null, () => 1)).toBe(40_000);
    expect(backoffMs(policy, 3, null, () => 0.5)).toBe(22_500);
  });

  it('never exceeds retry.max_s, however many failures', () => {
    for (const n of [10, 20, 1000]) expect(backoffMs(policy, n, null, () => 1)).toBe(600_000);
  });

  it('honours Retry-After as given, up to retry.max_s', () => {
    expect(backoffMs(policy, 5, 7000, () => 1)).toBe(7000);
    expect(backoffMs(policy, 1, 0, () => 1)).toBe(0);
    expect(backoffMs(policy, 1, 3_600_000, () => 1)).toBe(600_000);
  });

  it('spreads a fleet over the whole window (jitter)', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 100; i++) seen.add(backoffMs(policy, 4));
    expect(seen.size).toBeGreaterThan(50);
    for (const v of seen) expect(v >= 5000 && v <= 80_000).toBe(true);
  });
});

describe('the retry book', () => {
  it('defers a failed episode until its time and forgets it after a success', () => {
    const book = new RetryBook(undefined, policy, () => 0);
    expect(book.episodeDue('ep-1', 0)).toBe(true);
    const next = book.episodeFailed('ep-1', 'transient', 503, 'busy', null, 1000);
    expect(next).toBe(6000);
    expect(book.episodeDue('ep-1', 5999)).toBe(false);
    expect(book.episodeDue('ep-1', 6000)).toBe(true);
    expect(book.state.episodes['ep-1']!.attempts).toBe(1);
    book.episodeFailed('ep-1', 'transient', 503, 'busy', null, 6000);
    expect(book.state.episodes['ep-1']!.attempts).toBe(2);
    book.episodeDone('ep-1');
    expect(book.state.episodes['ep-1']).toBeUndefined();
    expect(book.dirty).toBe(true);
  });

  it('backs the receiver off as a whole and resets after a success', () => {
    const book = new RetryBook(undefined, policy, () => 0);
    book.receiverFailed('unreachable', 'refused', null, 0);
    book.receiverFailed('unreachable', 'refused', null, 0);
    expect(book.state.receiver.failures).toBe(2);
    expect(book.receiverDue(4999)).toBe(false);
    expect(book.receiverDue(5000)).toBe(true);
    book.receiverOk();
    expect(book.state.receiver).toEqual({ failures: 0, next_at: 0, last_class: null, last_error: null });
  });

  it('names the earliest moment something becomes due', () => {
    const book = new RetryBook(undefined, policy, () => 0);
    book.episodeFailed('a', 'transient', 503, 'x', 9000, 0);
    book.episodeFailed('b', 'transient', 503, 'x', 7000, 0);
    expect(book.nextDue(['a', 'b'], 0)).toBe(7000);
    expect(book.nextDue(['a'], 0)).toBe(9000);
    expect(book.nextDue([], 0)).toBeNull();
    book.keepOnly(new Set(['a']));
    expect(Object.keys(book.state.episodes)).toEqual(['a']);
  });
});
