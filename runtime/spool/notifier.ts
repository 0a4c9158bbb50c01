// Wakes the spool's subscribers: at most once per tick, never on the caller's stack, one bad listener harms none.
import type { SpoolLog } from './journal-options.ts';

export class Notifier {
  private readonly listeners = new Set<() => void>();
  private readonly log: SpoolLog;
  private queued = false;

  constructor(log: SpoolLog) {
    this.log = log;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Something may have become claimable. Listeners run in a microtask, so after the commit is visible. */
  notify(): void {
    if (this.queued) return;
    this.queued = true;
    queueMicrotask(() => {
      this.queued = false;
      for (const listener of [...this.listeners]) {
        try {
          listener();
        } catch (err) {
          this.log('warn', 'spool listener threw', { error: String(err) });
        }
      }
    });
  }
}
