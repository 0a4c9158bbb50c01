/**
 * One timer per connection for both SMTP timeouts: a deadline (a whole command, a whole DATA) and an
 * idle limit (silence inside DATA). Resetting either is a field write, not a timer operation: the
 * timer only ever fires early and re-arms itself for what is left, so busy connections cost nothing.
 */
export class SessionTimer {
  readonly #onExpire: () => void;
  readonly #now: () => number;
  #deadlineAt = Infinity;
  #idleMs = Infinity;
  #lastActivity = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #firesAt = Infinity;
  #stopped = false;

  constructor(onExpire: () => void, now: () => number = Date.now) {
    this.#onExpire = onExpire;
    this.#now = now;
  }

  /** Expire `ms` from now, whatever the activity; null clears the deadline. */
  deadline(ms: number | null): void {
    this.#deadlineAt = ms === null ? Infinity : this.#now() + ms;
    this.#arm();
  }

  /** Expire after `ms` without activity; null clears the idle limit. */
  idle(ms: number | null): void {
    this.#idleMs = ms ?? Infinity;
    this.#lastActivity = this.#now();
    this.#arm();
  }

  /** Input arrived. */
  activity(): void {
    if (this.#idleMs !== Infinity) this.#lastActivity = this.#now();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #due(): number {
    return Math.min(this.#deadlineAt, this.#lastActivity + this.#idleMs);
  }

  #arm(): void {
    if (this.#stopped) return;
    const due = this.#due();
    // A timer that fires at or before `due` will re-check then; only an earlier due needs a new one.
    if (this.#timer !== undefined && this.#firesAt <= due) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#firesAt = Infinity;
    if (due === Infinity) return;
    this.#firesAt = due;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, due - this.#now()));
    this.#timer.unref?.();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#firesAt = Infinity;
    if (this.#stopped) return;
    if (this.#now() >= this.#due()) {
      this.stop();
      this.#onExpire();
    } else this.#arm();
  }
}
