/** Length-prefixed JSON frames (4-byte big-endian length, UTF-8 JSON) for the sandbox host's stdin/stdout. */

/** Larger frames are a protocol violation: the peer is killed rather than buffered without bound. */
export const MAX_FRAME_BYTES = 32 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export class FrameError extends Error {
  readonly code = 'SANDBOX_FRAME';
}

/** One message as a frame. */
export function encodeFrame(message: unknown): Uint8Array {
  const body = encoder.encode(JSON.stringify(message));
  if (body.length > MAX_FRAME_BYTES) throw new FrameError(`frame of ${body.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  const frame = new Uint8Array(4 + body.length);
  new DataView(frame.buffer).setUint32(0, body.length, false);
  frame.set(body, 4);
  return frame;
}

/** Reassembles frames from arbitrary chunks; throws FrameError on an oversize length or bad JSON. */
export class FrameDecoder {
  #buffer: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): unknown[] {
    if (this.#buffer.length === 0) this.#buffer = chunk;
    else {
      const joined = new Uint8Array(this.#buffer.length + chunk.length);
      joined.set(this.#buffer, 0);
      joined.set(chunk, this.#buffer.length);
      this.#buffer = joined;
    }
    const messages: unknown[] = [];
    let offset = 0;
    while (this.#buffer.length - offset >= 4) {
      const view = new DataView(this.#buffer.buffer, this.#buffer.byteOffset + offset, 4);
      const length = view.getUint32(0, false);
      if (length > MAX_FRAME_BYTES) throw new FrameError(`frame of ${length} bytes exceeds ${MAX_FRAME_BYTES}`);
      if (this.#buffer.length - offset - 4 < length) break;
      const body = this.#buffer.subarray(offset + 4, offset + 4 + length);
      try {
        messages.push(JSON.parse(decoder.decode(body)));
      } catch (cause) {
        throw new FrameError('frame is not UTF-8 JSON', { cause });
      }
      offset += 4 + length;
    }
    this.#buffer = offset === this.#buffer.length ? new Uint8Array(0) : this.#buffer.slice(offset);
    return messages;
  }

  /** Bytes received that do not yet form a whole frame. */
  get pending(): number {
    return this.#buffer.length;
  }
}
