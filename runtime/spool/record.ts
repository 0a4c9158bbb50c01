// Journal record framing: typed, length-prefixed, checksummed, with a per-segment magic for resync.
import { crc32 } from 'node:zlib';

/**
 * Record types. ACCEPT carries a new message; MOVE re-appends a live message (envelope, latest
 * state and bytes in one record) when its old segment is reclaimed; STATE and DONE follow it.
 */
export const RecordType = { accept: 1, state: 2, done: 3, move: 4 } as const;
export type RecordTypeCode = (typeof RecordType)[keyof typeof RecordType];

/** [magic u32][type u8][length u32][crc32 u32][payload], big-endian. */
export const RECORD_HEADER_BYTES = 13;

/** A single record may not exceed this; a length field above it is damage, not data. */
export const MAX_PAYLOAD_BYTES = 2 ** 31 - 1;

/** What a segment's header contributes to every record in it. */
export interface RecordKey {
  /** Random per segment, so bytes inside a message body cannot pass for a record on resync. */
  readonly magic: number;
  /** Random per segment, folded into every checksum for the same reason. */
  readonly seed: number;
}

/** Reasons that mark an append cut short rather than damage. */
export const SHORT_HEADER = 'short record header';
export const RUNS_PAST_END = 'runs past the end of the segment';

export type DecodedRecord =
  | { ok: true; type: RecordTypeCode; payloadStart: number; end: number }
  | { ok: false; reason: string };

/** Builds the header for a payload given as parts (not copied: the checksum runs over each part). */
export function encodeRecordHeader(
  key: RecordKey,
  type: RecordTypeCode,
  parts: readonly Uint8Array[],
  length: number,
): Buffer {
  const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
  header.writeUInt32BE(key.magic, 0);
  header.writeUInt8(type, 4);
  header.writeUInt32BE(length, 5);
  let crc = crc32(header.subarray(4, 9), key.seed);
  for (const part of parts) crc = crc32(part, crc);
  header.writeUInt32BE(crc, 9);
  return header;
}

/** Checks the record at `pos`: magic, known type, length inside the buffer, checksum. */
export function decodeRecord(buf: Buffer, pos: number, key: RecordKey): DecodedRecord {
  if (buf.length - pos < RECORD_HEADER_BYTES) return { ok: false, reason: SHORT_HEADER };
  if (buf.readUInt32BE(pos) !== key.magic) return { ok: false, reason: 'bad record magic' };
  const type = buf.readUInt8(pos + 4);
  if (!isRecordType(type)) return { ok: false, reason: `unknown record type ${type}` };
  const length = buf.readUInt32BE(pos + 5);
  const payloadStart = pos + RECORD_HEADER_BYTES;
  if (length > MAX_PAYLOAD_BYTES || length > buf.length - payloadStart) {
    return { ok: false, reason: `record length ${length} ${RUNS_PAST_END}` };
  }
  const end = payloadStart + length;
  const crc = crc32(buf.subarray(payloadStart, end), crc32(buf.subarray(pos + 4, pos + 9), key.seed));
  if (crc !== buf.readUInt32BE(pos + 9)) return { ok: false, reason: 'bad record checksum' };
  return { ok: true, type, payloadStart, end };
}

/** The offset of the next record at or after `from` that checks out, or -1. */
export function findNextRecord(buf: Buffer, from: number, key: RecordKey): number {
  const magic = Buffer.allocUnsafe(4);
  magic.writeUInt32BE(key.magic, 0);
  let at = buf.indexOf(magic, from);
  while (at >= 0) {
    if (decodeRecord(buf, at, key).ok) return at;
    at = buf.indexOf(magic, at + 1);
  }
  return -1;
}

function isRecordType(type: number): type is RecordTypeCode {
  return type >= RecordType.accept && type <= RecordType.move;
}
