/**
 * Newline-delimited frames for the sandbox host's stdin/stdout: one UTF-8 line per frame, a JSON
 * text (JSON.stringify never emits a raw newline) or, after a `run` request, raw payload JSON.
 * Strings go to the pipe as they are (no length prefix to compute, no copy into a frame buffer).
 */
import { Buffer } from 'node:buffer';

/**
 * Longer lines are a protocol violation: the peer is killed rather than buffered without bound. The
 * default; a server whose messages may be larger passes `frameCapFor(messageSize)` to both ends.
 */
export const MAX_FRAME_BYTES = 32 * 1024 * 1024;
/** No frame is allowed past this, whatever the message size: near V8's longest string. */
export const FRAME_CEILING_BYTES = 512 * 1024 * 1024 - 64 * 1024;

/**
 * The frame limit that lets a message of `messageSize` bytes reach an agent that asked for the body:
 * its base64 (4 bytes per 3) plus room for the rest of the payload, never below the default nor
 * above the ceiling.
 */
export function frameCapFor(messageSize: number): number {
  return Math.min(FRAME_CEILING_BYTES, Math.max(MAX_FRAME_BYTES, Math.ceil(messageSize / 3) * 4 + 1024 * 1024));
}

const NEWLINE = 0x0a;
const decoder = new TextDecoder('utf-8', { fatal: true });

export class FrameError extends Error {
  readonly code = 'SANDBOX_FRAME';
}

/** For callers that treat a payload too large to frame apart from other driver failures (runRecorded's passThrough). */
export function isFrameError(error: unknown): error is FrameError {
  return error instanceof FrameError;
}

/** A JSON text that is already serialized (by JSON.stringify) as one frame: the text and a newline. */
export function frameLine(json: string): string {
  return frameLineUpTo(json, MAX_FRAME_BYTES);
}

/** `frameLine` with another limit than the default (no optional parameter: `lines.map(frameLine)` stays safe). */
export function frameLineUpTo(json: string, maxBytes: number): string {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit, so only long texts need counting.
  if (json.length * 3 > maxBytes && (json.length > maxBytes || Buffer.byteLength(json) > maxBytes)) {
    throw new FrameError(`frame of ${Buffer.byteLength(json)} bytes exceeds ${maxBytes}`);
  }
  return `${json}\n`;
}

/** One message as a frame. */
export function encodeFrame(message: unknown): string {
  return encodeFrameUpTo(message, MAX_FRAME_BYTES);
}

/** `encodeFrame` with another limit than the default. */
export function encodeFrameUpTo(message: unknown, maxBytes: number): string {
  const json = JSON.stringify(message);
  if (typeof json !== 'string') throw new FrameError('message does not serialize to JSON');
  return frameLineUpTo(json, maxBytes);
}

/** A frame's JSON, parsed; a line that is not JSON is a FrameError. */
export function parseFrame(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch (cause) {
    throw new FrameError('frame is not JSON', { cause });
  }
}

/** Reassembles lines from arbitrary chunks; throws FrameError on an over-long line or bad UTF-8. */
export class LineDecoder {
  readonly #max: number;
  #parts: Uint8Array[] = [];
  #pending = 0;

  constructor(maxBytes = MAX_FRAME_BYTES) {
    this.#max = maxBytes;
  }

  /** The complete lines in `chunk` (and what came before it), without their newlines. */
  push(chunk: Uint8Array): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      lines.push(this.#line(chunk.subarray(start, end)));
      start = end + 1;
    }
    if (start < chunk.length) {
      this.#pending += chunk.length - start;
      if (this.#pending > this.#max) throw new FrameError(`frame of more than ${this.#max} bytes`);
      // A copy (Buffer#slice would be a view): the caller may reuse its chunk once push returns.
      this.#parts.push(new Uint8Array(chunk.subarray(start)));
    }
    return lines;
  }

  /** Bytes received that do not yet form a whole line. */
  get pending(): number {
    return this.#pending;
  }

  #line(tail: Uint8Array): string {
    let bytes = tail;
    if (this.#parts.length > 0) {
      const length = this.#pending + tail.length;
      if (length > this.#max) throw new FrameError(`frame of ${length} bytes exceeds ${this.#max}`);
      bytes = new Uint8Array(length);
      let offset = 0;
      for (const part of this.#parts) {
        bytes.set(part, offset);
        offset += part.length;
      }
      bytes.set(tail, offset);
      this.#parts = [];
      this.#pending = 0;
    } else if (bytes.length > this.#max) throw new FrameError(`frame of ${bytes.length} bytes exceeds ${this.#max}`);
    try {
      return decoder.decode(bytes);
    } catch (cause) {
      throw new FrameError('frame is not UTF-8', { cause });
    }
  }
}
