/** Durable local delivery of message batches into Maildir folders (cr.yp.to/proto/maildir.html). */
import { closeSync, fsync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir, open, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface MaildirWriterOptions {
  /** Directory holding `<domain>/<local-part>/` mailboxes; created on first delivery. */
  root: string;
  /** This host's name, written into every file name (`/` → `\057`, `:` → `\072`, `,` → `\054`). */
  hostname: string;
  /** Milliseconds since the epoch, fractional allowed (sub-ms digits feed the `M` field). */
  now?: () => number;
  /**
   * Items written at once (default 16). File I/O shares the runtime's small thread pool with the
   * spool, so a server keeps this low to leave room for the fsyncs that gate its 250 replies.
   */
  concurrency?: number;
}

export interface DeliveryItem {
  domain: string;
  localPart: string;
  message: Uint8Array;
}

/**
 * Outcome of one item. `code` is the errno name from the file system (`ENOSPC`, `EDQUOT`,
 * `ENOTDIR`, `EIO`, …), or `EINVAL` when the address cannot name a mailbox.
 */
export type DeliveryResult =
  | { ok: true; path: string }
  | { ok: false; error: { code: string; message: string } };

/** Default items worked on at once. */
const CONCURRENCY = 16;
/** Forget created mailboxes past this many, so catch-all domains cannot grow the cache forever. */
const MAX_CACHED_MAILBOXES = 50_000;
/** NAME_MAX of common Linux file systems, in bytes. */
const NAME_MAX = 255;

const SAFE_CHAR = /^[a-z0-9._+=\-\p{L}\p{N}]$/u;
const LONE_SURROGATE = /\p{Cs}/u;
const utf8 = new TextEncoder();

/**
 * The mailbox folder for an address: `<root>/<domain>/<local-part>`, each component made path-safe
 * so no address can leave `root`, name a hidden folder (or a Maildir++ `.folder`) or collide with
 * another spelling that is not the same after case folding.
 *
 * Mapping, applied to the domain and the local part alike:
 * 1. NFC-normalize, then lowercase ASCII `A`–`Z` only (no locale rules; `Ä` stays `Ä`).
 * 2. Keep `a-z 0-9 . _ + = -` and non-ASCII letters and numbers (`\p{L}`, `\p{N}`); every other
 *    character — `/`, `\`, `%`, `:`, NUL, spaces, marks, symbols — becomes `%XX` per UTF-8 byte.
 * 3. A leading `.` becomes `%2E`, so `.`, `..` and `.hidden` are ordinary names.
 *
 * Because `%` itself is encoded, the mapping is injective after step 1: `a%b` → `a%25b`,
 * `../etc` → `%2E.%2Fetc`, `a/b` → `a%2Fb`, `ÄLICE` → `Älice`.
 *
 * @throws {RangeError} when a component is empty, is not well-formed UTF-16, or encodes to more
 *   than 255 bytes.
 */
export function mailboxDir(root: string, domain: string, localPart: string): string {
  return join(root, safeComponent(domain, 'domain'), safeComponent(localPart, 'local part'));
}

function safeComponent(raw: string, what: string): string {
  if (raw.length === 0) throw new RangeError(`empty ${what}`);
  if (LONE_SURROGATE.test(raw)) throw new RangeError(`${what} is not well-formed Unicode`);
  const folded = raw.normalize('NFC').replace(/[A-Z]/g, (c) => c.toLowerCase());
  let out = '';
  for (const ch of folded) {
    out += SAFE_CHAR.test(ch) && !(out === '' && ch === '.') ? ch : percentEncode(ch);
  }
  if (utf8.encode(out).length > NAME_MAX) throw new RangeError(`${what} is too long`);
  return out;
}

function percentEncode(ch: string): string {
  let out = '';
  for (const byte of utf8.encode(ch)) out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  return out;
}

/** Shared by every writer in the process, so two writers never hand out the same `Q` value. */
let deliveryCounter = 0;

interface Renamed {
  newDir: string;
  path: string;
}

/**
 * Writes messages into Maildirs: `tmp/` → fsync → rename into `new/` → fsync of `new/`, so a
 * delivery reported `ok` survives a crash. Batches share the directory fsyncs.
 */
export class MaildirWriter {
  readonly #root: string;
  readonly #host: string;
  readonly #now: () => number;
  readonly #concurrency: number;
  /** Drawn once per writer: with pid and the process-wide counter it makes every name unique. */
  readonly #random: string;
  /** Mailbox dir → its `tmp/new/cur` creation, durable once the promise resolves. */
  readonly #ready = new Map<string, Promise<void>>();
  readonly #dirs = new Map<string, string>();

  constructor(options: MaildirWriterOptions) {
    if (options.hostname.length === 0) throw new RangeError('empty hostname');
    this.#root = resolve(options.root);
    this.#host = options.hostname.replace(
      /[/:,\x00-\x1f\x7f]/g,
      (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'),
    );
    this.#now = options.now ?? Date.now;
    this.#concurrency = Math.max(1, options.concurrency ?? CONCURRENCY);
    this.#random = randomBytes(8).toString('hex');
  }

  /**
   * Delivers every item and resolves, in input order, once each `ok` file is durable in `new/`.
   * One item's failure never fails the others, and leaves no file in `new/`.
   */
  async deliver(items: readonly DeliveryItem[]): Promise<DeliveryResult[]> {
    const results = new Array<DeliveryResult>(items.length);
    const renamed = new Array<Renamed | undefined>(items.length);
    await eachBounded(items.length, this.#concurrency, async (i) => {
      try {
        renamed[i] = await this.#deliverOne(items[i]!);
      } catch (err) {
        results[i] = failure(err);
      }
    });

    // One fsync per distinct new/ makes every rename of the batch into it durable.
    const byDir = new Map<string, number[]>();
    renamed.forEach((r, i) => {
      if (r === undefined) return;
      const indices = byDir.get(r.newDir);
      if (indices === undefined) byDir.set(r.newDir, [i]);
      else indices.push(i);
    });
    const dirs = [...byDir];
    await eachBounded(dirs.length, this.#concurrency, async (d) => {
      const [newDir, indices] = dirs[d]!;
      try {
        await fsyncDir(newDir);
        for (const i of indices) results[i] = { ok: true, path: renamed[i]!.path };
      } catch (err) {
        // Not known durable: report a failure and take the files back, so a retry is no duplicate.
        for (const i of indices) {
          results[i] = failure(err);
          await unlink(renamed[i]!.path).catch(() => {});
        }
      }
    });
    return results;
  }

  async #deliverOne(item: DeliveryItem): Promise<Renamed> {
    const dir = this.#dirFor(item.domain, item.localPart);
    try {
      return await this.#attempt(dir, item.message);
    } catch (err) {
      // The mailbox was removed after we cached it: create it again, once.
      if (errnoCode(err) !== 'ENOENT') throw err;
      this.#ready.delete(dir);
      return await this.#attempt(dir, item.message);
    }
  }

  async #attempt(dir: string, message: Uint8Array): Promise<Renamed> {
    await this.#ensureMaildir(dir);
    const name = this.#uniqueName(message.byteLength);
    const tmpPath = join(dir, 'tmp', name);
    const newDir = join(dir, 'new');
    const path = join(newDir, name);
    await writeDurably(tmpPath, message);
    try {
      renameSync(tmpPath, path);
    } catch (err) {
      await unlink(tmpPath).catch(() => {});
      throw err;
    }
    return { newDir, path };
  }

  #ensureMaildir(dir: string): Promise<void> {
    let ready = this.#ready.get(dir);
    if (ready === undefined) {
      if (this.#ready.size >= MAX_CACHED_MAILBOXES) this.#ready.clear();
      const created = createMaildir(dir);
      created.catch(() => {
        if (this.#ready.get(dir) === created) this.#ready.delete(dir);
      });
      this.#ready.set(dir, created);
      ready = created;
    }
    return ready;
  }

  /** `mailboxDir` is pure but not cheap (normalization, per-character checks): remember it. */
  #dirFor(domain: string, localPart: string): string {
    const key = `${domain}\0${localPart}`;
    let dir = this.#dirs.get(key);
    if (dir === undefined) {
      if (this.#dirs.size >= MAX_CACHED_MAILBOXES) this.#dirs.clear();
      dir = mailboxDir(this.#root, domain, localPart);
      this.#dirs.set(key, dir);
    }
    return dir;
  }

  /** `<sec>.M<usec>P<pid>Q<counter>R<random>.<host>,S=<size>`: pid + counter + a per-writer 64-bit random. */
  #uniqueName(size: number): string {
    const ms = this.#now();
    const sec = Math.floor(ms / 1000);
    const usec = Math.min(999_999, Math.max(0, Math.floor((ms - sec * 1000) * 1000)));
    const q = ++deliveryCounter;
    return `${sec}.M${usec}P${process.pid}Q${q}R${this.#random}.${this.#host},S=${size}`;
  }
}

/** Creates `tmp`, `new`, `cur` (and missing ancestors); fsyncs the parent of each created dir. */
async function createMaildir(dir: string): Promise<void> {
  const tmp = join(dir, 'tmp');
  const created: string[] = [];
  const first = await mkdir(tmp, { recursive: true, mode: 0o700 });
  if (first !== undefined) {
    // mkdir reports the topmost directory it made; everything below it up to tmp is new too.
    let path = first;
    created.push(path);
    for (const part of relative(first, tmp).split(sep).filter((p) => p !== '')) {
      path = join(path, part);
      created.push(path);
    }
  }
  const made = await Promise.all(
    ['new', 'cur'].map((sub) => mkdir(join(dir, sub), { recursive: true, mode: 0o700 })),
  );
  for (const m of made) if (m !== undefined) created.push(m);
  const parents = new Set(created.map((p) => dirname(p)));
  await Promise.all([...parents].map(fsyncDir));
}

/**
 * open, write, close and rename run synchronously: they touch only the page cache and cost a few
 * microseconds, where each promise-based call costs a thread-pool round trip and tens of
 * microseconds of main-thread time. Only the fsync, which waits for the disk, goes to the pool.
 */
async function writeDurably(path: string, data: Uint8Array): Promise<void> {
  const fd = openSync(path, 'wx', 0o600);
  try {
    let offset = 0;
    while (offset < data.byteLength) offset += writeSync(fd, data, offset, data.byteLength - offset, offset);
    await new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      // Already gone: nothing to clean up.
    }
    throw err;
  }
  closeSync(fd);
}

async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Runs `task(0..count-1)` with at most `limit` in flight; `task` must not reject. */
async function eachBounded(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function failure(err: unknown): DeliveryResult {
  const code = errnoCode(err) ?? (err instanceof RangeError ? 'EINVAL' : 'EIO');
  const message = err instanceof Error ? err.message : String(err);
  return { ok: false, error: { code, message } };
}
