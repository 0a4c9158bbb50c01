/** Durable local delivery of message batches into Maildir folders (cr.yp.to/proto/maildir.html). */
import { mkdir, open } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MaildirIo, type FileJob } from './maildir-io.ts';

export interface MaildirWriterOptions {
  /** Directory holding `<domain>/<local-part>/` mailboxes; created on first delivery. */
  root: string;
  /** This host's name, written into every file name (`/` → `\057`, `:` → `\072`, `,` → `\054`). */
  hostname: string;
  /** Milliseconds since the epoch, fractional allowed (sub-ms digits feed the `M` field). */
  now?: () => number;
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

type Failed = Extract<DeliveryResult, { ok: false }>;

/**
 * Writes messages into Maildirs: `tmp/` → fsync → rename into `new/` → fsync of `new/`, so a
 * delivery reported `ok` survives a crash. Batches share the directory fsyncs.
 */
export class MaildirWriter {
  readonly #root: string;
  readonly #host: string;
  readonly #now: () => number;
  readonly #io = new MaildirIo();
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
    this.#random = randomBytes(8).toString('hex');
  }

  /**
   * Delivers every item and resolves, in input order, once each `ok` file is durable in `new/`.
   * One item's failure never fails the others, and leaves no file in `new/`.
   */
  async deliver(items: readonly DeliveryItem[]): Promise<DeliveryResult[]> {
    const results = new Array<DeliveryResult>(items.length);
    const dirs = new Array<string>(items.length);
    let todo: number[] = [];
    items.forEach((item, i) => {
      try {
        dirs[i] = this.#dirFor(item.domain, item.localPart);
        todo.push(i);
      } catch (err) {
        results[i] = failure(err);
      }
    });
    for (let attempt = 0; attempt < 2 && todo.length > 0; attempt++) {
      await this.#writeSome(items, dirs, todo, results);
      // A mailbox removed after we cached it: forget it and retry those items, once.
      todo = todo.filter((i) => (results[i] as Failed).error?.code === 'ENOENT');
      for (const i of todo) this.#ready.delete(dirs[i]!);
    }
    return results;
  }

  /** Makes sure the items' mailboxes exist, then writes the items through the I/O thread. */
  async #writeSome(items: readonly DeliveryItem[], dirs: readonly string[], todo: readonly number[], results: DeliveryResult[]): Promise<void> {
    const broken = new Map<string, unknown>();
    await Promise.all(
      [...new Set(todo.map((i) => dirs[i]!))].map((dir) => this.#ensureMaildir(dir).catch((err: unknown) => void broken.set(dir, err))),
    );
    const jobs: FileJob[] = [];
    const owners: number[] = [];
    for (const i of todo) {
      const dir = dirs[i]!;
      if (broken.has(dir)) {
        results[i] = failure(broken.get(dir));
        continue;
      }
      const message = items[i]!.message;
      const name = this.#uniqueName(message.byteLength);
      const newDir = join(dir, 'new');
      jobs.push({ tmp: join(dir, 'tmp', name), dest: join(newDir, name), dir: newDir, message });
      owners.push(i);
    }
    const written = await this.#io.run(jobs);
    written.forEach((r, k) => {
      results[owners[k]!] = r.ok ? { ok: true, path: jobs[k]!.dest } : { ok: false, error: { code: r.code, message: r.message } };
    });
  }

  /** Stops the I/O thread. */
  close(): Promise<void> {
    return this.#io.close();
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

async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
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
