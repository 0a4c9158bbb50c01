/**
 * SMTP framing: turns the byte stream into command lines, DATA content (dot-unstuffed, ending only at
 * <CRLF>.<CRLF>) and BDAT chunks. Pure: no sockets, no timers. Bare CR or LF and NUL are reported as
 * errors, never reinterpreted, so no byte sequence can make the server see a message boundary the
 * client did not send with exact CRLFs (SMTP smuggling).
 */

import { concatBytes } from '../platform/bytes.ts';
import { Buffer } from 'node:buffer';

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const NUL = 0x00;

export type LineError = 'bare-lf' | 'bare-cr' | 'too-long';
export type ContentError = 'bare-lf' | 'bare-cr' | 'nul';

export type FrameEvent =
  /** A complete command line, CRLF removed. */
  | { type: 'line'; line: Uint8Array }
  /** A command line that cannot be used; the line has been consumed (or the stream is unusable). */
  | { type: 'line-error'; error: LineError }
  /** Message content (DATA: unstuffed; BDAT: raw). Slices may share memory with pushed chunks. */
  | { type: 'content'; chunk: Uint8Array }
  /** DATA terminator seen, or the BDAT chunk is complete. */
  | { type: 'content-end' }
  /** Content broke the line-ending rules; the rest of the stream cannot be trusted. */
  | { type: 'content-error'; error: ContentError };

type Mode =
  | { kind: 'line' }
  | { kind: 'data' }
  | { kind: 'bdat'; remaining: number }
  | { kind: 'failed' };

export interface ContentStats {
  /** Content octets after unstuffing. */
  bytes: number;
  /** Longest text line seen, CRLF included, the transparency dot not counted (RFC 5321 4.5.3.1.6). */
  longestLine: number;
}

export class Framer {
  /** A Buffer, so that indexOf is a native memchr (typed-array indexOf is far slower on V8). */
  #buf: Buffer = Buffer.alloc(0);
  #mode: Mode = { kind: 'line' };
  #maxLine: number;
  /** Line-mode overflow: octets being discarded until the next CRLF. */
  #discarding = false;
  // Content state shared by DATA and BDAT.
  #atLineStart = true;
  #lineLength = 0;
  #prevCr = false;
  #stats: ContentStats = { bytes: 0, longestLine: 0 };

  constructor(maxLine: number) {
    this.#maxLine = maxLine;
  }

  /** Appends received bytes. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#buf = this.#buf.length === 0 ? b : Buffer.concat([this.#buf, b]);
  }

  /** Octets received and not yet framed: non-zero while replying means the client pipelined. */
  get pending(): number {
    return this.#buf.length;
  }

  /** Drops everything buffered (after STARTTLS: plaintext sent before the handshake must not run). */
  discard(): void {
    this.#buf = Buffer.alloc(0);
    this.#discarding = false;
  }

  /** Sets the longest accepted command line, CRLF included (512; 12288 during SASL, RFC 4954 4). */
  setMaxLine(octets: number): void {
    this.#maxLine = octets;
  }

  /** Switches to DATA content until <CRLF>.<CRLF>; the preceding CRLF of the DATA command is implied. */
  startData(): void {
    this.#mode = { kind: 'data' };
    this.#resetContent();
  }

  /** Switches to reading exactly `size` octets of BDAT content. Line state carries across chunks. */
  startBdat(size: number, firstChunk: boolean): void {
    if (firstChunk) this.#resetContent();
    this.#mode = { kind: 'bdat', remaining: size };
  }

  /** Line statistics of the current message's content. */
  get contentStats(): ContentStats {
    return this.#stats;
  }

  /** The next event, or null when more input is needed. */
  next(): FrameEvent | null {
    switch (this.#mode.kind) {
      case 'line':
        return this.#nextLine();
      case 'data':
        return this.#nextData();
      case 'bdat':
        return this.#nextBdat(this.#mode);
      case 'failed':
        return null;
    }
  }

  #resetContent(): void {
    this.#atLineStart = true;
    this.#lineLength = 0;
    this.#prevCr = false;
    this.#stats = { bytes: 0, longestLine: 0 };
  }

  #take(n: number): void {
    this.#buf = n >= this.#buf.length ? Buffer.alloc(0) : this.#buf.subarray(n);
  }

  #fail<E extends FrameEvent>(event: E): E {
    this.#mode = { kind: 'failed' };
    this.#buf = Buffer.alloc(0);
    return event;
  }

  #nextLine(): FrameEvent | null {
    const buf = this.#buf;
    const lf = buf.indexOf(LF);
    const cr = buf.indexOf(CR);
    if (lf === -1) {
      // A CR is legal only as the very last octet so far (its LF may be in the next segment).
      if (cr !== -1 && cr < buf.length - 1) return this.#fail({ type: 'line-error', error: 'bare-cr' });
      if (buf.length >= this.#maxLine) this.#discarding = true;
      // Keep memory bounded: an overlong line is dropped as it arrives and refused at its end.
      if (this.#discarding) this.#take(cr === -1 ? buf.length : buf.length - 1);
      return null;
    }
    if (cr !== -1 && cr < lf - 1) return this.#fail({ type: 'line-error', error: 'bare-cr' });
    if (lf === 0 || buf[lf - 1] !== CR) return this.#fail({ type: 'line-error', error: 'bare-lf' });
    this.#take(lf + 1);
    if (this.#discarding || lf + 1 > this.#maxLine) {
      this.#discarding = false;
      return { type: 'line-error', error: 'too-long' };
    }
    return { type: 'line', line: buf.subarray(0, lf - 1) };
  }

  #nextData(): FrameEvent | null {
    const buf = this.#buf;
    // One scan per call, not per line: a per-line search to the end of the buffer is quadratic.
    const nul = buf.indexOf(NUL);
    const parts: Uint8Array[] = [];
    let sliceStart = 0;
    let i = 0;
    while (i < buf.length) {
      if (this.#atLineStart && buf[i] === DOT) {
        // Up to two more octets tell the terminator from a stuffed dot.
        if (i + 2 >= buf.length && !(i + 1 < buf.length && buf[i + 1] !== CR)) break;
        if (buf[i + 1] === CR) {
          if (buf[i + 2] !== LF) return this.#fail({ type: 'content-error', error: 'bare-cr' });
          if (i > sliceStart || parts.length > 0) break; // hand out the content first
          this.#take(3);
          this.#mode = { kind: 'line' };
          return { type: 'content-end' };
        }
        // ".x": drop the transparency dot (RFC 5321 4.5.2); it does not count toward the line length.
        if (i > sliceStart) parts.push(buf.subarray(sliceStart, i));
        i += 1;
        sliceStart = i;
        this.#atLineStart = false;
        continue;
      }
      const lf = buf.indexOf(LF, i);
      const end = lf === -1 ? buf.length : lf;
      const error = lineError(buf, i, end, nul);
      if (error) return this.#fail({ type: 'content-error', error });
      if (lf === -1) {
        // Partial line: keep a trailing CR back until its LF arrives.
        const stop = buf[buf.length - 1] === CR ? buf.length - 1 : buf.length;
        if (stop > i) this.#atLineStart = false;
        this.#lineLength += stop - i;
        i = stop;
        break;
      }
      if (lf === i || buf[lf - 1] !== CR) return this.#fail({ type: 'content-error', error: 'bare-lf' });
      this.#endLine(lf + 1 - i);
      i = lf + 1;
    }
    if (i > sliceStart) parts.push(buf.subarray(sliceStart, i));
    this.#take(i);
    if (parts.length === 0) return null;
    const chunk = concatBytes(parts);
    this.#stats.bytes += chunk.length;
    return { type: 'content', chunk };
  }

  #nextBdat(mode: { kind: 'bdat'; remaining: number }): FrameEvent | null {
    if (mode.remaining === 0) {
      this.#mode = { kind: 'line' };
      return { type: 'content-end' };
    }
    if (this.#buf.length === 0) return null;
    const n = Math.min(mode.remaining, this.#buf.length);
    const chunk = this.#buf.subarray(0, n);
    this.#take(n);
    mode.remaining -= n;
    const error = this.#checkRaw(chunk);
    if (error) return this.#fail({ type: 'content-error', error });
    this.#stats.bytes += n;
    return { type: 'content', chunk };
  }

  #endLine(octets: number): void {
    const length = this.#lineLength + octets;
    if (length > this.#stats.longestLine) this.#stats.longestLine = length;
    this.#lineLength = 0;
    this.#atLineStart = true;
  }

  /**
   * BDAT content is length-framed, so a CR may end one chunk and its LF start the next; the same
   * line-ending rules still hold for the message as a whole.
   */
  #checkRaw(chunk: Buffer): ContentError | undefined {
    const nul = chunk.indexOf(NUL);
    let i = 0;
    if (this.#prevCr) {
      if (chunk[0] !== LF) return 'bare-cr';
      this.#prevCr = false;
      this.#endLine(2);
      i = 1;
    }
    while (i < chunk.length) {
      const lf = chunk.indexOf(LF, i);
      const end = lf === -1 ? chunk.length : lf;
      const error = lineError(chunk, i, end, nul);
      if (error) return error;
      if (lf === -1) {
        this.#prevCr = chunk[chunk.length - 1] === CR;
        this.#lineLength += chunk.length - i - (this.#prevCr ? 1 : 0);
        return undefined;
      }
      if (lf === i || chunk[lf - 1] !== CR) return 'bare-lf';
      this.#endLine(lf + 1 - i);
      i = lf + 1;
    }
    return undefined;
  }
}

/**
 * NUL (its first position in the buffer given as `nul`) or a CR not directly before `end` (the LF,
 * or the end of what has arrived), within the line from `from`. The CR search stops at the line's
 * own CR in well-formed input, so it stays linear.
 */
function lineError(buf: Buffer, from: number, end: number, nul: number): ContentError | undefined {
  if (nul !== -1 && nul >= from && nul < end) return 'nul';
  const cr = buf.indexOf(CR, from);
  if (cr !== -1 && cr < end - 1) return 'bare-cr';
  return undefined;
}

