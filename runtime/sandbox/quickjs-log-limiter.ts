/** A token bucket for one agent's log lines, counting what it drops so that the loss can be reported. */

export interface LogRate {
  /** Lines an agent may log at once after being quiet (default 100). */
  burst: number;
  /** Lines per second it may log over time (default 20). */
  perSecond: number;
}

export const DEFAULT_LOG_RATE: LogRate = { burst: 100, perSecond: 20 };

export class LogLimiter {
  readonly #rate: LogRate;
  readonly #now: () => number;
  #tokens: number;
  #at: number;
  #dropped = 0;

  /** `now` is in milliseconds; injected so tests need no clock. */
  constructor(rate: LogRate = DEFAULT_LOG_RATE, now: () => number = () => performance.now()) {
    if (!(rate.burst >= 1) || !Number.isFinite(rate.burst)) throw new RangeError(`logRate.burst must be a finite number ≥ 1, got ${String(rate.burst)}`);
    if (!(rate.perSecond > 0) || !Number.isFinite(rate.perSecond)) throw new RangeError(`logRate.perSecond must be a finite number > 0, got ${String(rate.perSecond)}`);
    this.#rate = rate;
    this.#now = now;
    this.#tokens = rate.burst;
    this.#at = now();
  }

  /**
   * Takes a token for one line. Returns -1 when the line must be dropped; otherwise how many lines
   * were dropped since the last accepted one (so the caller can say so before logging this one).
   */
  take(): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#rate.burst, this.#tokens + ((now - this.#at) / 1000) * this.#rate.perSecond);
    this.#at = now;
    if (this.#tokens < 1) {
      this.#dropped++;
      return -1;
    }
    this.#tokens -= 1;
    const dropped = this.#dropped;
    this.#dropped = 0;
    return dropped;
  }
}
