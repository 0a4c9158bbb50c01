// Queue ids: 48-bit millisecond time + 80 random bits, 26 Crockford base32 characters, sortable by time.
import { randomFillSync } from 'node:crypto';

/** Crockford's base32 alphabet; its characters are in ASCII order, so ids sort as their numbers do. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10;
const RANDOM_BYTES = 10;
const MAX_TIME = 2 ** 48 - 1;

/** The fixed length of every queue id. */
export const QUEUE_ID_LENGTH = 26;

/**
 * Returns a generator of queue ids on the given clock. Ids are unique across restarts (80 random
 * bits) and strictly increasing within one generator even if the clock steps back: the generator
 * then keeps the last time and increments the random part, as ULID's monotonic mode does.
 */
export function queueIdGenerator(clock: () => number): () => string {
  let lastTime = -1;
  const random = new Uint8Array(RANDOM_BYTES);
  const pool = new Uint8Array(RANDOM_BYTES * 64);
  let poolAt = pool.length;

  return function next(): string {
    let time = Math.min(Math.max(Math.floor(clock()), 0), MAX_TIME);
    if (time > lastTime) {
      if (poolAt === pool.length) {
        randomFillSync(pool);
        poolAt = 0;
      }
      random.set(pool.subarray(poolAt, poolAt + RANDOM_BYTES));
      poolAt += RANDOM_BYTES;
      lastTime = time;
    } else {
      time = lastTime;
      if (!increment(random)) {
        // 2^80 ids in one millisecond cannot happen; borrowing the next millisecond keeps the order.
        lastTime = time = Math.min(time + 1, MAX_TIME);
      }
    }
    return encodeTime(time) + encodeRandom(random);
  };
}

/** A queue id from the system clock. */
export const newQueueId: () => string = queueIdGenerator(Date.now);

/** The millisecond timestamp inside a queue id, or undefined if it is not one. */
export function queueIdTime(id: string): number | undefined {
  if (id.length !== QUEUE_ID_LENGTH) return undefined;
  let time = 0;
  for (let i = 0; i < TIME_CHARS; i++) {
    const digit = ALPHABET.indexOf(id.charAt(i));
    if (digit < 0) return undefined;
    time = time * 32 + digit;
  }
  return time <= MAX_TIME ? time : undefined;
}

function encodeTime(time: number): string {
  let out = '';
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ALPHABET.charAt(time % 32) + out;
    time = Math.floor(time / 32);
  }
  return out;
}

/** 80 bits are exactly 16 base32 digits: each 5-byte group becomes 8 digits. */
function encodeRandom(bytes: Uint8Array): string {
  let out = '';
  for (let group = 0; group < RANDOM_BYTES; group += 5) {
    // 40 bits fit a double exactly.
    let value = 0;
    for (let i = 0; i < 5; i++) value = value * 256 + (bytes[group + i] ?? 0);
    let digits = '';
    for (let i = 0; i < 8; i++) {
      digits = ALPHABET.charAt(value % 32) + digits;
      value = Math.floor(value / 32);
    }
    out += digits;
  }
  return out;
}

/** Adds one to a big-endian number; false when it wrapped around to zero. */
function increment(bytes: Uint8Array): boolean {
  for (let i = bytes.length - 1; i >= 0; i--) {
    const value = (bytes[i] ?? 0) + 1;
    bytes[i] = value & 0xff;
    if (value < 256) return true;
  }
  return false;
}
