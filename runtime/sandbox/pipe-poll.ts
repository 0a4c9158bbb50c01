/**
 * Reading a pipe for a short window instead of sleeping in the event loop, on both ends of the
 * sandbox host's pipe (sandbox-host.ts polls for answers, host-main.ts for requests): on this VM a
 * process woken from sleep costs ~15-20 µs (an interrupt to an idle vCPU), more than a short chain.
 */
import { readSync } from 'node:fs';

/**
 * Reads the non-blocking `fd` into `buffer` until `onChunk` says it has what it waited for, the
 * window of `windowMs` passes with nothing to read, the pipe ends or fails (the stream on the same
 * fd sees that too). Returns how many chunks it read.
 */
export function pollPipe(fd: number, buffer: Uint8Array, windowMs: number, onChunk: (chunk: Uint8Array) => boolean): number {
  const until = performance.now() + windowMs;
  let chunks = 0;
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buffer, 0, buffer.length, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN' && performance.now() < until) continue;
      return chunks;
    }
    if (n === 0) return chunks;
    chunks++;
    if (onChunk(buffer.subarray(0, n))) return chunks;
  }
}

const BACKOFF_FIRST = 8;
const BACKOFF_MAX = 4096;

/**
 * When to poll: one empty window is a hiccup (a GC pause, a descheduled vCPU); a second in a row
 * pauses polling for 8 tries, doubling up to 4,096 while the windows stay empty; one that finds
 * something resets. So a side whose peer is slow, or whose traffic comes far apart, polls almost never.
 */
export class PollBackoff {
  #pause = 0;
  #backoff = BACKOFF_FIRST;
  #misses = 0;

  /** False while polling is paused (and counts this try against the pause). */
  shouldPoll(): boolean {
    if (this.#pause === 0) return true;
    this.#pause--;
    return false;
  }

  /** What a poll found. */
  record(found: boolean): void {
    if (found) {
      this.#misses = 0;
      this.#backoff = BACKOFF_FIRST;
    } else if (++this.#misses > 1) {
      this.#pause = this.#backoff;
      this.#backoff = Math.min(BACKOFF_MAX, this.#backoff * 2);
    }
  }
}
