/**
 * Appends lines to the tracking log's day files: the newest file of a day until it reaches its size
 * limit, then the next in that day's series. A file reopened after a crash that tore its last line
 * gets a newline first, so the next entry starts on a line of its own.
 */
import { Buffer } from 'node:buffer';
import { writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { trackingFileName, type TrackingFile } from './tracking-files.ts';

/** A write to a tracking file failed; `file` names it, `cause` is the system error. */
export class TrackingWriteError extends Error {
  readonly file: string;
  constructor(file: string, cause: unknown) {
    super(`${file}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'TrackingWriteError';
    this.file = file;
  }
}

interface Series {
  seq: number;
  size: number;
}

interface Output {
  day: string;
  name: string;
  handle: FileHandle;
  series: Series;
}

/**
 * A synchronous write into the page cache (~2 µs), as the spool's journal appends are: an
 * asynchronous one costs the event loop ~13 µs of waking a thread-pool thread, for every batch.
 */
function writeAll(handle: FileHandle, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    const bytesWritten = writeSync(handle.fd, bytes, done, bytes.length - done, null);
    if (bytesWritten <= 0) throw new Error('the write made no progress');
    done += bytesWritten;
  }
}

/** Whether a non-empty file's last byte is something other than a newline (a torn line). */
async function endsTorn(file: string, size: number): Promise<boolean> {
  if (size === 0) return false;
  const handle = await open(file, 'r');
  try {
    const last = new Uint8Array(1);
    const { bytesRead } = await handle.read(last, 0, 1, size - 1);
    return bytesRead === 1 && last[0] !== 0x0a;
  } finally {
    await handle.close();
  }
}

export class TrackingFileWriter {
  readonly #dir: string;
  readonly #maxFileBytes: number;
  /** The newest file of each day, where that day's next entries go. */
  readonly #latest = new Map<string, Series>();
  #out: Output | null = null;

  constructor(dir: string, maxFileBytes: number) {
    this.#dir = dir;
    this.#maxFileBytes = maxFileBytes;
  }

  /** Learns the files already on disk, oldest first (a file's size is read when it is opened). */
  adopt(files: readonly TrackingFile[]): void {
    for (const f of files) this.#latest.set(f.day, { seq: f.seq, size: 0 });
  }

  /** The file being appended to, which retention must not delete. */
  get current(): string | null {
    return this.#out?.name ?? null;
  }

  /** Retention deleted a file: a day whose newest file is gone starts its series again after it. */
  forget(file: TrackingFile): void {
    const s = this.#latest.get(file.day);
    if (s !== undefined && s.seq === file.seq) this.#latest.delete(file.day);
  }

  /** Appends lines (each ending in a newline) to `day`'s files, in order, rotating by size. */
  async write(day: string, lines: readonly string[]): Promise<void> {
    let i = 0;
    while (i < lines.length) {
      const out = await this.#output(day);
      const parts: string[] = [];
      let bytes = 0;
      for (; i < lines.length; i++) {
        const n = Buffer.byteLength(lines[i]!);
        // A file takes at least one line, however long; otherwise lines fit under the limit.
        if (out.series.size + bytes > 0 && out.series.size + bytes + n > this.#maxFileBytes) break;
        parts.push(lines[i]!);
        bytes += n;
      }
      if (parts.length > 0) {
        try {
          writeAll(out.handle, Buffer.from(parts.join('')));
        } catch (error) {
          await this.#closeOutput();
          throw new TrackingWriteError(out.name, error);
        }
        out.series.size += bytes;
      }
      if (i < lines.length) await this.#open(day, { seq: out.series.seq + 1, size: 0 });
    }
  }

  async close(): Promise<void> {
    await this.#closeOutput();
  }

  async #output(day: string): Promise<Output> {
    if (this.#out !== null && this.#out.day === day) return this.#out;
    return this.#open(day, this.#latest.get(day) ?? { seq: 1, size: 0 });
  }

  async #open(day: string, series: Series): Promise<Output> {
    await this.#closeOutput();
    const name = trackingFileName(day, series.seq);
    const file = path.join(this.#dir, name);
    let handle: FileHandle;
    try {
      handle = await open(file, 'a', 0o640);
    } catch (error) {
      throw new TrackingWriteError(name, error);
    }
    try {
      const { size } = await handle.stat();
      series.size = size;
      if (await endsTorn(file, size)) {
        await writeAll(handle, new Uint8Array([0x0a]));
        series.size += 1;
      }
    } catch (error) {
      await handle.close().catch(() => {});
      throw new TrackingWriteError(name, error);
    }
    this.#latest.set(day, series);
    this.#out = { day, name, handle, series };
    return this.#out;
  }

  async #closeOutput(): Promise<void> {
    const out = this.#out;
    this.#out = null;
    if (out !== null) await out.handle.close().catch(() => {});
  }
}
