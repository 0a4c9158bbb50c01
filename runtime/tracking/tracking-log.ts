/**
 * The message tracking log: an append-only record of every step a message takes, one JSON object per
 * line in `<dataDir>/tracking/`, a file series per UTC day rotated by size, old days deleted after the
 * retention period. `append` only buffers: the pipeline never waits for, or hears about, the disk.
 */
import { mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { LogFn } from '../log/logger.ts';
import type { TrackingEntry } from './tracking-entry.ts';
import { DAY_MS, dayOf, listTrackingFiles, MAX_AT } from './tracking-files.ts';
import { compileQuery, type TrackingQuery, type TrackingResult } from './tracking-query.ts';
import { searchTrackingFiles } from './tracking-search.ts';
import { TrackingFileWriter } from './tracking-writer.ts';

export const DEFAULT_TRACKING_MAX_FILE_BYTES = 10 * 1024 * 1024;
export const DEFAULT_TRACKING_RETENTION_MS = 30 * DAY_MS;
/** What may wait in memory for the disk; beyond it entries are dropped (and that is logged). */
export const DEFAULT_TRACKING_MAX_PENDING_BYTES = 32 * 1024 * 1024;

export interface TrackingLogOptions {
  /** `<dataDir>/tracking`; created by `open`. */
  dir: string;
  /** The clock retention is measured on (entries carry their own `at`). */
  now?: () => number;
  /** A file is closed and the day's next one started before it would grow past this. */
  maxFileBytes?: number;
  /** Day files whose day ended longer ago than this are deleted. */
  retentionMs?: number;
  maxPendingBytes?: number;
  /** Where write failures, drops and deletions are reported. */
  log?: LogFn;
}

interface Pending {
  day: string;
  line: string;
}

/** Entries are buffered, written in order in batches; search and flush see all appended before them. */
export class TrackingLog {
  readonly dir: string;
  readonly #now: () => number;
  readonly #retentionMs: number;
  readonly #maxPendingBytes: number;
  readonly #log: LogFn;
  readonly #writer: TrackingFileWriter;
  #state: 'new' | 'open' | 'closing' | 'closed' = 'new';
  #pending: Pending[] = [];
  #pendingBytes = 0;
  /** Entries taken by `append`, and entries written or given up on; flush waits for the second to catch up. */
  #appended = 0;
  #settled = 0;
  #waiters: { target: number; resolve: () => void }[] = [];
  #draining: Promise<void> | null = null;
  #lastDay: string | null = null;
  #failing = false;
  #dropped = 0;
  #warned = new Set<string>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(opts: TrackingLogOptions) {
    this.dir = opts.dir;
    this.#now = opts.now ?? Date.now;
    this.#retentionMs = opts.retentionMs ?? DEFAULT_TRACKING_RETENTION_MS;
    this.#maxPendingBytes = opts.maxPendingBytes ?? DEFAULT_TRACKING_MAX_PENDING_BYTES;
    this.#log = opts.log ?? (() => {});
    this.#writer = new TrackingFileWriter(opts.dir, opts.maxFileBytes ?? DEFAULT_TRACKING_MAX_FILE_BYTES);
  }

  /** Creates the directory, deletes files past retention, and starts writing what was appended so far. */
  async open(): Promise<void> {
    if (this.#state !== 'new') throw new Error(`the tracking log in ${this.dir} is already ${this.#state}`);
    await mkdir(this.dir, { recursive: true });
    this.#writer.adopt(await listTrackingFiles(this.dir));
    await this.prune();
    this.#state = 'open';
    this.#timer = setInterval(() => void this.prune(), DAY_MS);
    this.#timer.unref?.();
    this.#schedule();
  }

  /** Records one step. Never throws and never waits; a failure to write is logged, not raised. */
  append(entry: TrackingEntry): void {
    if (this.#state === 'closing' || this.#state === 'closed') {
      this.#warnOnce('closed', 'tracking.closed', { event: entry?.event, queueId: entry?.queueId });
      return;
    }
    let line: string;
    let at: number;
    try {
      at = entry.at;
      if (typeof at !== 'number' || !(at >= 0 && at <= MAX_AT)) {
        at = this.#now();
        this.#warnOnce('bad-at', 'tracking.bad-entry', { field: 'at', value: String(entry.at), using: at });
        line = `${JSON.stringify({ ...entry, at })}\n`;
      } else {
        line = `${JSON.stringify(entry)}\n`;
      }
    } catch (error) {
      this.#warnOnce('bad-entry', 'tracking.bad-entry', { error: String(error) });
      return;
    }
    if (this.#pendingBytes + line.length > this.#maxPendingBytes) {
      this.#drop(1, 'tracking.overflow', { pendingBytes: this.#pendingBytes });
      return;
    }
    this.#pending.push({ day: dayOf(at), line });
    this.#pendingBytes += line.length;
    this.#appended++;
    this.#schedule();
  }

  /** Resolves once every entry appended before the call is written (or, after a write error, given up on). */
  flush(): Promise<void> {
    const target = this.#appended;
    if (this.#settled >= target) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ target, resolve }));
  }

  /** Matching entries, oldest first; when more than `limit` match, the newest `limit`. */
  async search(q: TrackingQuery): Promise<TrackingEntry[]> {
    return (await this.find(q)).entries;
  }

  /** {@link search}, also saying whether older matches were left out. Throws `TrackingQueryError` for a bad query. */
  async find(q: TrackingQuery): Promise<TrackingResult> {
    const query = compileQuery(q);
    await this.flush();
    return searchTrackingFiles(this.dir, await listTrackingFiles(this.dir), query);
  }

  /** Deletes the day files whose day ended more than the retention period ago; resolves to how many. */
  async prune(): Promise<number> {
    const cutoff = this.#now() - this.#retentionMs;
    let deleted = 0;
    try {
      for (const file of await listTrackingFiles(this.dir)) {
        if (file.dayStart + DAY_MS > cutoff) break; // oldest first: the rest are newer
        if (file.name === this.#writer.current) continue;
        await unlink(path.join(this.dir, file.name)).catch((error: { code?: string }) => {
          if (error.code !== 'ENOENT') throw error;
        });
        this.#writer.forget(file);
        deleted++;
      }
    } catch (error) {
      this.#warnOnce('prune', 'tracking.prune-failed', { dir: this.dir, error: String(error) });
    }
    if (deleted > 0) this.#say('info', 'tracking.pruned', { files: deleted, retentionDays: this.#retentionMs / DAY_MS });
    return deleted;
  }

  /** Writes what is buffered and closes the file; later appends are ignored (and logged once). */
  async close(): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'closing') return;
    const wasOpen = this.#state === 'open';
    this.#state = 'closing';
    clearInterval(this.#timer);
    if (wasOpen) await this.flush();
    else this.#settle(this.#pending.splice(0).length);
    await this.#draining;
    await this.#writer.close();
    this.#state = 'closed';
  }

  #schedule(): void {
    if (this.#draining === null && this.#state !== 'new' && this.#pending.length > 0) this.#draining = this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      await null; // appends made in the caller's same turn join this batch
      while (this.#pending.length > 0) {
        const batch = this.#pending;
        this.#pending = [];
        this.#pendingBytes = 0;
        await this.#write(batch);
        this.#settle(batch.length);
      }
    } finally {
      this.#draining = null;
    }
  }

  /** Writes a batch day run by day run; a failure drops the rest of the batch. Never throws. */
  async #write(batch: Pending[]): Promise<void> {
    let i = 0;
    try {
      while (i < batch.length) {
        const day = batch[i]!.day;
        let j = i;
        while (j < batch.length && batch[j]!.day === day) j++;
        if (this.#lastDay === null || day > this.#lastDay) {
          if (this.#lastDay !== null) await this.prune(); // writing moved to a new day: the daily check
          this.#lastDay = day;
        }
        await this.#writer.write(day, batch.slice(i, j).map((p) => p.line));
        i = j;
      }
      if (this.#failing) {
        this.#failing = false;
        this.#say('warn', 'tracking.write-recovered', { dropped: this.#dropped });
        this.#dropped = 0;
      }
    } catch (error) {
      const file = (error as { file?: string }).file;
      this.#dropped += batch.length - i;
      if (!this.#failing) {
        this.#failing = true;
        this.#say('error', 'tracking.write-failed', { dir: this.dir, file, error: String((error as Error).cause ?? error), dropped: batch.length - i });
      }
    }
  }

  #settle(count: number): void {
    this.#settled += count;
    this.#waiters = this.#waiters.filter((w) => {
      if (w.target > this.#settled) return true;
      w.resolve();
      return false;
    });
  }

  #drop(count: number, event: string, fields: Record<string, unknown>): void {
    this.#dropped += count;
    this.#warnOnce(event, event, { ...fields, dir: this.dir });
  }

  #warnOnce(key: string, event: string, fields: Record<string, unknown>): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#say('warn', event, fields);
  }

  #say(level: 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown>): void {
    try {
      this.#log(level, event, fields);
    } catch {
      // a failing logger must not become the caller's error
    }
  }
}
