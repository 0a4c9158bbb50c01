/**
 * `ctx.kv` on the host side: one agent's persistent store, an append-only JSON-lines file in its
 * kvDir (each write fdatasynced before it resolves), replayed into memory on open, compacted by
 * rewrite-and-rename when it is mostly garbage. Stores are shared per directory within a process.
 */
import { Buffer } from 'node:buffer';
import { mkdir, open, readFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { KV_LIMITS } from '../../sdk/context.ts';
import { writeAtomically } from '../platform/write-atomically.ts';
import { CapabilityError } from './capability-error.ts';

export const KV_FILE = 'kv.jsonl';
/** Compaction runs when the file is larger than this plus twice the live data. */
const COMPACT_SLACK_BYTES = 1024 * 1024;
/** A TTL longer than this is refused as a mistake (100 years). */
const MAX_TTL_MS = 100 * 365 * 24 * 3600 * 1000;

export interface KvStoreOptions {
  /** Live keys and values together, in UTF-8 bytes (default `KV_LIMITS.storeBytes`). */
  quotaBytes?: number;
  /** Wall clock for TTLs, in epoch milliseconds (default `Date.now`). */
  now?: () => number;
}

type Entry = { value: string; expiresAt: number | null; bytes: number };
/** One line of the file: a set (with its expiry) or a delete. */
type KvRecord = ['s', string, string, number | null] | ['d', string];

function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function parseRecord(line: string): KvRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || typeof value[1] !== 'string') return undefined;
  if (value[0] === 'd' && value.length === 2) return ['d', value[1]];
  if (value[0] === 's' && value.length === 4 && typeof value[2] === 'string' && (value[3] === null || typeof value[3] === 'number')) {
    return ['s', value[1], value[2], value[3]];
  }
  return undefined;
}

function checkKey(op: string, key: string): void {
  const bytes = byteLength(key);
  if (bytes === 0) throw new CapabilityError('invalid-argument', `${op}: key must not be empty`);
  if (bytes > KV_LIMITS.keyBytes) throw new CapabilityError('limit', `${op}: key is ${bytes} bytes; the limit is ${KV_LIMITS.keyBytes}`);
}

export class KvStore {
  readonly file: string;
  readonly quotaBytes: number;
  #now: () => number;
  #entries = new Map<string, Entry>();
  #liveBytes = 0;
  #fileBytes = 0;
  #handle: FileHandle | undefined;
  /** Mutations run one at a time, in call order. */
  #tail: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, options: KvStoreOptions) {
    this.file = path.join(dir, KV_FILE);
    this.quotaBytes = options.quotaBytes ?? KV_LIMITS.storeBytes;
    this.#now = options.now ?? Date.now;
  }

  /** Creates the directory if needed and replays the file; a torn last line (a crash mid-write) is dropped. */
  static async open(dir: string, options: KvStoreOptions = {}): Promise<KvStore> {
    const store = new KvStore(dir, options);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    let text = '';
    try {
      text = await readFile(store.file, 'utf8');
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
    }
    const damaged = store.#replay(text);
    if (damaged) await store.#compact();
    else store.#handle = await open(store.file, 'a', 0o600);
    return store;
  }

  /** Rebuilds the map from the file's text; true when some line could not be read. */
  #replay(text: string): boolean {
    let damaged = false;
    const lines = text.split('\n');
    // Everything after the last newline is a write that never completed.
    if (lines.pop() !== '') damaged = true;
    for (const line of lines) {
      const record = parseRecord(line);
      if (record === undefined) {
        damaged = true;
        continue;
      }
      if (record[0] === 'd') this.#drop(record[1]);
      else this.#put(record[1], record[2], record[3]);
    }
    this.#fileBytes = byteLength(text);
    return damaged;
  }

  #put(key: string, value: string, expiresAt: number | null): void {
    this.#drop(key);
    const bytes = byteLength(key) + byteLength(value);
    this.#entries.set(key, { value, expiresAt, bytes });
    this.#liveBytes += bytes;
  }

  #drop(key: string): boolean {
    const old = this.#entries.get(key);
    if (old === undefined) return false;
    this.#entries.delete(key);
    this.#liveBytes -= old.bytes;
    return true;
  }

  #expired(entry: Entry): boolean {
    return entry.expiresAt !== null && entry.expiresAt <= this.#now();
  }

  /** Bytes of live keys and values (expired ones count until they are purged). */
  get liveBytes(): number {
    return this.#liveBytes;
  }

  /** The value, or null when the key is absent or expired. */
  get(key: string): string | null {
    checkKey('kv.get', key);
    const entry = this.#entries.get(key);
    if (entry === undefined || this.#expired(entry)) return null;
    return entry.value;
  }

  /** Resolves once the write is on disk. */
  set(key: string, value: string, ttlMs?: number): Promise<void> {
    checkKey('kv.set', key);
    const valueBytes = byteLength(value);
    if (valueBytes > KV_LIMITS.valueBytes) throw new CapabilityError('limit', `kv.set: value is ${valueBytes} bytes; the limit is ${KV_LIMITS.valueBytes}`);
    if (ttlMs !== undefined && !(Number.isFinite(ttlMs) && ttlMs > 0 && ttlMs <= MAX_TTL_MS)) {
      throw new CapabilityError('invalid-argument', `kv.set: options.ttlMs must be a positive number of milliseconds up to ${MAX_TTL_MS}`);
    }
    return this.#serial(async () => {
      const old = this.#entries.get(key);
      const grows = byteLength(key) + valueBytes - (old?.bytes ?? 0);
      if (this.#liveBytes + grows > this.quotaBytes) {
        this.#purgeExpired();
        if (this.#liveBytes + grows > this.quotaBytes) {
          throw new CapabilityError('limit', `kv.set: the store would hold ${this.#liveBytes + grows} bytes; the quota is ${this.quotaBytes}`);
        }
      }
      const expiresAt = ttlMs === undefined ? null : Math.ceil(this.#now() + ttlMs);
      await this.#append(['s', key, value, expiresAt]);
      this.#put(key, value, expiresAt);
      await this.#maybeCompact();
    });
  }

  /** True when the key was there (and not expired); resolves once the delete is on disk. */
  delete(key: string): Promise<boolean> {
    checkKey('kv.delete', key);
    return this.#serial(async () => {
      const entry = this.#entries.get(key);
      if (entry === undefined) return false;
      await this.#append(['d', key]);
      this.#drop(key);
      await this.#maybeCompact();
      return !this.#expired(entry);
    });
  }

  /** Waits for pending writes, then closes the file. */
  async close(): Promise<void> {
    await this.#serial(async () => {
      await this.#handle?.close();
      this.#handle = undefined;
    });
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(work);
    this.#tail = run.catch(() => {});
    return run;
  }

  async #append(record: KvRecord): Promise<void> {
    const handle = this.#handle;
    if (handle === undefined) throw new CapabilityError('failed', 'kv: the store is closed');
    const line = JSON.stringify(record) + '\n';
    await handle.write(line);
    await handle.datasync();
    this.#fileBytes += byteLength(line);
  }

  #purgeExpired(): void {
    for (const [key, entry] of this.#entries) if (this.#expired(entry)) this.#drop(key);
  }

  async #maybeCompact(): Promise<void> {
    if (this.#fileBytes > COMPACT_SLACK_BYTES + 2 * this.#liveBytes) await this.#compact();
  }

  /** Writes the live entries to a new file, fsyncs it and renames it over the old one (then fsyncs the directory). */
  async #compact(): Promise<void> {
    this.#purgeExpired();
    const lines: string[] = [];
    for (const [key, entry] of this.#entries) lines.push(JSON.stringify(['s', key, entry.value, entry.expiresAt] satisfies KvRecord) + '\n');
    const text = lines.join('');
    await this.#handle?.close();
    this.#handle = undefined;
    await writeAtomically(this.file, text);
    this.#fileBytes = byteLength(text);
    this.#handle = await open(this.file, 'a', 0o600);
  }
}

/** A share of an open store; `release` closes the store when the last share goes. */
export interface KvLease {
  store: KvStore;
  release(): Promise<void>;
}

const shared = new Map<string, { refs: number; store: Promise<KvStore> }>();
const closing = new Map<string, Promise<void>>();

/**
 * Opens the store in `dir`, or shares the one already open in this process (a reloaded agent and
 * its predecessor must not write the same file through two handles).
 */
export async function acquireKvStore(dir: string, options: KvStoreOptions = {}): Promise<KvLease> {
  const key = path.resolve(dir);
  await closing.get(key);
  let entry = shared.get(key);
  if (entry === undefined) {
    const created = { refs: 0, store: KvStore.open(key, options) };
    entry = created;
    shared.set(key, created);
    created.store.catch(() => {
      if (shared.get(key) === created) shared.delete(key);
    });
  }
  const held = entry;
  held.refs++;
  let store: KvStore;
  try {
    store = await held.store;
  } catch (error) {
    held.refs--;
    throw error;
  }
  let released = false;
  return {
    store,
    release: async () => {
      if (released) return;
      released = true;
      if (--held.refs > 0 || shared.get(key) !== held) return;
      shared.delete(key);
      const done = store.close().finally(() => closing.delete(key));
      closing.set(key, done);
      await done;
    },
  };
}
