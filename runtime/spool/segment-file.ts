// One journal segment file: positioned appends and reads, sync, truncate, and a close that waits for readers.
import { readSync, writevSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { newSegmentHeader, segmentFileName, type SegmentHeader } from './segment-header.ts';

/** Reads up to this size are served synchronously (see `read`). */
const SYNC_READ_LIMIT = 256 * 1024;

export class SegmentFile {
  readonly number: number;
  readonly path: string;
  readonly header: SegmentHeader;
  /** Bytes known to be on disk and valid; appends go here. 0 until the header's first write. */
  size: number;
  /** No more appends: a write or sync failed, or the segment is full. Reads still work. */
  sealed = false;
  /** The file was created and its directory entry is not yet known to be durable. */
  needsDirSync: boolean;
  private readonly handle: FileHandle;
  private reads = 0;
  private whenDrained: (() => void) | undefined;
  private closing: Promise<void> | undefined;

  constructor(number: number, path: string, handle: FileHandle, header: SegmentHeader, size: number, fresh: boolean) {
    this.number = number;
    this.path = path;
    this.handle = handle;
    this.header = header;
    this.size = size;
    this.needsDirSync = fresh;
  }

  /** Creates (or clobbers) the file for a new segment; its header goes out with the first batch. */
  static async create(dir: string, number: number): Promise<SegmentFile> {
    const path = join(dir, segmentFileName(number));
    const handle = await open(path, 'w+');
    return new SegmentFile(number, path, handle, newSegmentHeader(number), 0, true);
  }

  /**
   * Writes all of `chunks` at `position`, looping over short writes. Synchronous on purpose: the
   * bytes only go to the page cache (microseconds), while a thread-pool hop costs a scheduling
   * wait on a busy machine; the fdatasync that follows is the part that waits for the disk.
   */
  writeAt(chunks: readonly Uint8Array[], position: number, length: number): void {
    let pending: readonly Uint8Array[] = chunks;
    let written = 0;
    while (written < length) {
      const bytesWritten = writevSync(this.handle.fd, pending as Uint8Array[], position + written);
      if (bytesWritten <= 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
      written += bytesWritten;
      if (written < length) pending = skipBytes(pending, bytesWritten);
    }
  }

  async datasync(): Promise<void> {
    await this.handle.datasync();
  }

  async truncate(size: number): Promise<void> {
    await this.handle.truncate(size);
  }

  /**
   * Reads exactly `length` bytes at `offset` into a new array. Small reads of recent records come
   * from the page cache, so they are done synchronously; large ones go through the thread pool.
   */
  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    if (length <= SYNC_READ_LIMIT) {
      let done = 0;
      while (done < length) {
        const bytesRead = readSync(this.handle.fd, out, done, length - done, offset + done);
        if (bytesRead === 0) throw Object.assign(new Error(`segment ${this.number} ends early`), { code: 'EIO' });
        done += bytesRead;
      }
      return out;
    }
    this.reads++;
    try {
      let done = 0;
      while (done < length) {
        const { bytesRead } = await this.handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0) throw Object.assign(new Error(`segment ${this.number} ends early`), { code: 'EIO' });
        done += bytesRead;
      }
      return out;
    } finally {
      this.reads--;
      if (this.reads === 0) this.whenDrained?.();
    }
  }

  /** Closes once in-flight reads are done; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async (): Promise<void> => {
      if (this.reads > 0) await new Promise<void>((resolve) => (this.whenDrained = resolve));
      await this.handle.close();
    })();
    return this.closing;
  }
}

/** The chunks that remain after the first `count` bytes. */
function skipBytes(chunks: readonly Uint8Array[], count: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  let skip = count;
  for (const chunk of chunks) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    rest.push(skip > 0 ? chunk.subarray(skip) : chunk);
    skip = 0;
  }
  return rest;
}
