// The journal's segments in log order, and the durable removal of the oldest.
import { open, unlink } from 'node:fs/promises';
import type { SegmentFile } from './segment-file.ts';

/** fsync on a directory: makes file creation and removal in it durable (fsync(2), Linux). */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class SegmentSet {
  readonly dir: string;
  /** Insertion order is log order: segments are only ever added with a higher number. */
  private readonly files = new Map<number, SegmentFile>();
  /** The highest number seen, including files that were skipped or removed on replay. */
  private highest = 0;
  private lastAdded = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Adds a segment newer than every segment seen so far. */
  add(file: SegmentFile): void {
    if (file.number <= this.lastAdded) throw new Error(`segment ${file.number} is not newer than ${this.lastAdded}`);
    this.files.set(file.number, file);
    this.lastAdded = file.number;
    this.highest = Math.max(this.highest, file.number);
  }

  /** Reserves a number above every segment seen, including ones that were skipped on replay. */
  noteNumber(number: number): void {
    this.highest = Math.max(this.highest, number);
  }

  nextNumber(): number {
    return this.highest + 1;
  }

  get(number: number): SegmentFile | undefined {
    return this.files.get(number);
  }

  oldest(): SegmentFile | undefined {
    for (const file of this.files.values()) return file;
    return undefined;
  }

  get count(): number {
    return this.files.size;
  }

  /** Bytes in all segments (a handful of files: summing is cheap). */
  get totalBytes(): number {
    let total = 0;
    for (const file of this.files.values()) total += file.size;
    return total;
  }

  /**
   * Deletes the oldest segment and syncs the directory before returning, so that removals reach
   * the disk in log order: a later segment never disappears while an earlier one could come back.
   * The segment leaves the set only once it is gone from the disk; if that fails it stays first.
   */
  async removeOldest(): Promise<SegmentFile | undefined> {
    const file = this.oldest();
    if (!file) return undefined;
    await file.close();
    await unlink(file.path).catch((err: unknown) => {
      // Gone already: an earlier attempt removed it and failed only at the directory sync.
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
    });
    await syncDirectory(this.dir);
    this.files.delete(file.number);
    return file;
  }

  async closeAll(): Promise<void> {
    const files = [...this.files.values()];
    this.files.clear();
    await Promise.all(files.map((file) => file.close()));
  }
}
