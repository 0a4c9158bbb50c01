/** When to try a deferred message again: minutes growing to hours, like Postfix and Haraka. Pure. */

export interface RetryPolicy {
  /** Delay after the first failed attempt. */
  firstMs: number;
  /** The delay never grows past this. */
  maxMs: number;
  /** After this long in the queue, a deferred recipient fails for good. */
  expireMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { firstMs: 5 * 60_000, maxMs: 4 * 3600_000, expireMs: 2 * 24 * 3600_000 };

/** Delay before attempt `attempts + 1`, doubling from `firstMs`. */
export function retryDelay(attempts: number, policy: RetryPolicy = DEFAULT_RETRY): number {
  const n = Math.max(0, attempts - 1);
  return Math.min(policy.maxMs, policy.firstMs * 2 ** Math.min(n, 30));
}

export function isExpired(receivedAt: number, now: number, policy: RetryPolicy = DEFAULT_RETRY): boolean {
  return now - receivedAt >= policy.expireMs;
}
