/**
 * Which messages were being categorized when the process died. Before the categorizer takes a
 * message, `+<id>` is appended to the marks file; `-<id>` once it is done. The file is not fsynced:
 * it has to outlive the process (the page cache does), not the machine — a power cut is no
 * message's fault. At start every `+<id>` without its `-<id>` is one crash of the whole process
 * while that message was categorized, which counts towards the poison queue like a sandbox crash.
 */
import { ftruncateSync, writeSync } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';

/** The file starts over whenever nothing is being categorized and it has grown past this. */
const COMPACT_BYTES = 1024 * 1024;

export class CrashMarks {
  readonly #file: string;
  #handle: FileHandle | undefined;
  #size = 0;
  #open = 0;

  constructor(file: string) {
    this.#file = file;
  }

  /** The crashes earlier runs left marked, per queue id (the file is left as it is until `start`). */
  async read(): Promise<Map<string, number>> {
    const unmatched = new Map<string, number>();
    let text = '';
    try {
      text = await readFile(this.#file, 'latin1');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const line of text.split('\n')) {
      const id = line.slice(1);
      if (!/^[0-9A-Za-z]{8,40}$/.test(id)) continue; // a torn last line, or garbage
      if (line[0] === '+') unmatched.set(id, (unmatched.get(id) ?? 0) + 1);
      else if (line[0] === '-') {
        const n = (unmatched.get(id) ?? 0) - 1;
        if (n > 0) unmatched.set(id, n);
        else unmatched.delete(id);
      }
    }
    return unmatched;
  }

  /** Starts a new file: call once what `read` found is recorded elsewhere. */
  async start(): Promise<void> {
    this.#handle = await open(this.#file, 'w');
    this.#size = 0;
  }

  /** Marks `ids` as being categorized; throws when the write fails. */
  begin(ids: readonly string[]): void {
    this.#open += ids.length;
    this.#append('+', ids);
  }

  /** `ids` are categorized; throws when the write fails. */
  end(ids: readonly string[]): void {
    this.#open -= ids.length;
    this.#append('-', ids);
  }

  async close(): Promise<void> {
    await this.#handle?.close();
    this.#handle = undefined;
  }

  /**
   * Synchronous, into the page cache: an asynchronous write costs the event loop more (waking a
   * thread-pool thread) than the write itself, twice per categorized batch. Being synchronous, writes
   * never interleave.
   */
  #append(sign: '+' | '-', ids: readonly string[]): void {
    const handle = this.#handle;
    if (handle === undefined || ids.length === 0) return;
    const bytes = Buffer.from(ids.map((id) => `${sign}${id}\n`).join(''), 'latin1');
    for (let done = 0; done < bytes.length; ) done += writeSync(handle.fd, bytes, done, bytes.length - done, this.#size + done);
    this.#size += bytes.length;
    if (this.#open === 0 && this.#size > COMPACT_BYTES) {
      ftruncateSync(handle.fd, 0);
      this.#size = 0;
    }
  }
}
