/** A circuit breaker per agent: suspends it after repeated failures, lets it try again after a cool-down or an admin reset. */
import type { BreakerState } from './registry-types.ts';

export interface BreakerOptions {
  /** Failures in a row that open the breaker (default 5). */
  threshold: number;
  /** How long an open breaker keeps the agent out before one trial call (default 60 s). */
  cooldownMs: number;
}

export const DEFAULT_BREAKER: BreakerOptions = { threshold: 5, cooldownMs: 60_000 };

export class Breaker {
  readonly #options: BreakerOptions;
  #failures = 0;
  #state: BreakerState = { state: 'closed' };

  constructor(options: BreakerOptions = DEFAULT_BREAKER) {
    this.#options = options;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** Whether the agent may run now: closed, or open with its cool-down over (a trial call). */
  allows(now: number): boolean {
    return this.#state.state === 'closed' || now >= this.#state.until;
  }

  /** Returns true when this failure opened (or re-opened after a failed trial) the breaker. */
  failure(now: number, error: string): boolean {
    this.#failures++;
    if (this.#failures < this.#options.threshold) return false;
    this.#state = { state: 'open', since: now, until: now + this.#options.cooldownMs, failures: this.#failures, lastError: error };
    return true;
  }

  /** Returns true when this success closed an open breaker (its trial call passed). */
  success(): boolean {
    this.#failures = 0;
    if (this.#state.state === 'closed') return false;
    this.#state = { state: 'closed' };
    return true;
  }

  reset(): void {
    this.#failures = 0;
    this.#state = { state: 'closed' };
  }
}
