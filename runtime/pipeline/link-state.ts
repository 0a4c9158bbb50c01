/**
 * Per next hop (`connector:destination`): link state and admin suspension. A hop whose attempts
 * fail to reach it `downAfter` times in a row is marked down for `retryMs`; its queue then waits
 * instead of hammering it, and the first attempt after that decides whether it is up again.
 * Suspensions are the admin's and survive restarts (`queues.json` in the data dir).
 */
import { readFile } from 'node:fs/promises';
import { writeAtomically } from '../platform/write-atomically.ts';

export interface HopState {
  key: string;
  /** Attempts in a row that could not reach it. */
  failures: number;
  /** Down until this time (epoch ms), or 0 when up. */
  downUntil: number;
  lastError?: string;
  suspended: boolean;
}

export interface LinkStateOptions {
  /** Where suspensions are kept; none kept when absent (tests). */
  file?: string;
  downAfter: number;
  retryMs: number;
}

export class LinkState {
  readonly #o: LinkStateOptions;
  readonly #hops = new Map<string, HopState>();

  constructor(opts: LinkStateOptions) {
    this.#o = opts;
  }

  async open(): Promise<void> {
    if (this.#o.file === undefined) return;
    let text: string;
    try {
      text = await readFile(this.#o.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const data = JSON.parse(text) as { suspended?: unknown };
    if (Array.isArray(data.suspended)) for (const key of data.suspended) if (typeof key === 'string') this.#hop(key).suspended = true;
  }

  get(key: string): HopState {
    return { ...this.#hop(key) };
  }

  all(): HopState[] {
    return [...this.#hops.values()].map((h) => ({ ...h }));
  }

  /** Why delivery to `key` must wait now, or null to go ahead. */
  blocked(key: string, now: number): { reason: string; until: number | null } | null {
    const hop = this.#hops.get(key);
    if (hop === undefined) return null;
    if (hop.suspended) return { reason: `451 4.4.0 queue ${key} is suspended by the administrator`, until: null };
    if (hop.downUntil > now) return { reason: `451 4.4.1 next hop ${key} is down (${hop.lastError ?? 'unreachable'}); retrying after ${new Date(hop.downUntil).toISOString()}`, until: hop.downUntil };
    return null;
  }

  /** One attempt's verdict on the hop: reached (any answer from it) or not. Returns true when it just went down. */
  record(key: string, reached: boolean, now: number, error?: string): boolean {
    const hop = this.#hop(key);
    if (reached) {
      hop.failures = 0;
      hop.downUntil = 0;
      delete hop.lastError;
      return false;
    }
    hop.failures++;
    if (error !== undefined) hop.lastError = error;
    if (hop.failures >= this.#o.downAfter) {
      const wasUp = hop.downUntil <= now;
      hop.downUntil = now + this.#o.retryMs;
      return wasUp;
    }
    return false;
  }

  async setSuspended(key: string, suspended: boolean): Promise<void> {
    this.#hop(key).suspended = suspended;
    if (this.#o.file === undefined) return;
    const keys = [...this.#hops.values()].filter((h) => h.suspended).map((h) => h.key).sort();
    await writeAtomically(this.#o.file, `${JSON.stringify({ suspended: keys }, null, 2)}\n`);
  }

  #hop(key: string): HopState {
    let hop = this.#hops.get(key);
    if (hop === undefined) this.#hops.set(key, (hop = { key, failures: 0, downUntil: 0, suspended: false }));
    return hop;
  }
}
