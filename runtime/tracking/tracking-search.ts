/**
 * Searches tracking files newest first, streaming each in chunks (never a whole file in memory), and
 * keeps only the newest `limit + 1` matches, so that older files need not be read once that many
 * are found. Files outside the time range are skipped by their names.
 */
import { concatBytes } from '../platform/bytes.ts';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { isTrackingEntry, type TrackingEntry } from './tracking-entry.ts';
import { DAY_MS, type TrackingFile } from './tracking-files.ts';
import type { CompiledQuery, TrackingResult } from './tracking-query.ts';

const CHUNK_BYTES = 64 * 1024;
/** A longer line is not one this log wrote; it is skipped rather than buffered. */
const MAX_LINE_BYTES = 4 * 1024 * 1024;
const NEWLINE = 0x0a;

/**
 * The newline-terminated lines of a file, decoded. An unterminated tail (a write torn by a crash,
 * or one still in progress) is not a line and is not yielded. A missing file has no lines.
 */
export async function* fileLines(file: string): AsyncGenerator<string> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return;
    throw error;
  }
  const decoder = new TextDecoder();
  try {
    const chunk = new Uint8Array(CHUNK_BYTES);
    let parts: Uint8Array[] = [];
    let partBytes = 0;
    let oversized = false;
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) return;
      let start = 0;
      for (;;) {
        const nl = chunk.subarray(0, bytesRead).indexOf(NEWLINE, start);
        if (nl === -1) break;
        if (!oversized && partBytes + (nl - start) <= MAX_LINE_BYTES) {
          const piece = chunk.subarray(start, nl);
          yield parts.length === 0 ? decoder.decode(piece) : decoder.decode(concatBytes([...parts, piece]));
        }
        parts = [];
        partBytes = 0;
        oversized = false;
        start = nl + 1;
      }
      if (start < bytesRead && !oversized) {
        partBytes += bytesRead - start;
        if (partBytes > MAX_LINE_BYTES) {
          oversized = true;
          parts = [];
        } else {
          parts.push(chunk.slice(start, bytesRead));
        }
      }
    }
  } finally {
    await handle.close();
  }
}


/** Keeps the last `size` items pushed, in order. */
class Tail<T> {
  readonly #items: T[] = [];
  readonly #size: number;
  #next = 0;
  #count = 0;
  constructor(size: number) {
    this.#size = size;
  }
  push(item: T): void {
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.#size;
    this.#count++;
  }
  /** Everything kept, oldest first. */
  toArray(): T[] {
    if (this.#count <= this.#size) return this.#items.slice(0, this.#count);
    return [...this.#items.slice(this.#next), ...this.#items.slice(0, this.#next)];
  }
}

function parse(line: string): TrackingEntry | null {
  try {
    const value: unknown = JSON.parse(line);
    return isTrackingEntry(value) ? value : null;
  } catch {
    return null; // a torn or foreign line
  }
}

/** Runs a compiled query over `files` (oldest first, as listed) in `dir`. */
export async function searchTrackingFiles(dir: string, files: readonly TrackingFile[], query: CompiledQuery): Promise<TrackingResult> {
  const inRange = files.filter((f) => f.dayStart <= query.to && f.dayStart + DAY_MS - 1 >= query.from);
  const want = query.limit + 1; // one more than asked says whether there were more
  let found: TrackingEntry[] = [];
  for (let i = inRange.length - 1; i >= 0 && found.length < want; i--) {
    const tail = new Tail<TrackingEntry>(want - found.length);
    for await (const line of fileLines(path.join(dir, inRange[i]!.name))) {
      if (!query.mayMatch(line)) continue;
      const entry = parse(line);
      if (entry !== null && query.matches(entry)) tail.push(entry);
    }
    found = [...tail.toArray(), ...found];
  }
  const truncated = found.length > query.limit;
  return { entries: truncated ? found.slice(found.length - query.limit) : found, truncated };
}
