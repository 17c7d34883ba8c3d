// Backoff for transient and unreachable failures: exponential with jitter, between
// retry.initial_s and retry.max_s, reset by a success. A Retry-After from the receiver is
// honoured as given, up to retry.max_s. Pure: the random source is a parameter.

export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

/**
 * Delay before attempt `failures + 1`, after `failures` failures in a row (1 = the first).
 * Uniform in [initial, min(max, initial * 2^failures)]: the ceiling doubles each time, and
 * the jitter spreads a fleet that failed together over the whole window.
 */
export function backoffMs(policy: BackoffPolicy, failures: number, retryAfterMs: number | null = null, random: () => number = Math.random): number {
  if (retryAfterMs !== null && retryAfterMs >= 0) return Math.min(retryAfterMs, policy.maxMs);
  const n = Math.max(1, Math.min(failures, 40));
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** n);
  return Math.round(policy.initialMs + random() * (ceiling - policy.initialMs));
}
