// The header that opens every journal segment: identifies the file and holds its record key.
import { randomInt } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { RecordKey } from './record.ts';

/** [file magic u32][version u16][reserved u16][segment number u32][record magic u32][seed u32][crc32 u32]. */
export const SEGMENT_HEADER_BYTES = 24;

const FILE_MAGIC = 0x534c4a4c; // "SLJL"
const VERSION = 1;

export interface SegmentHeader extends RecordKey {
  readonly number: number;
}

/** A fresh header with a random record key. */
export function newSegmentHeader(number: number): SegmentHeader {
  let magic = 0;
  // Runs of 0x00 or 0xff bytes (a zero-filled tail, erased flash) must never look like a record.
  while (magic === 0 || magic === 0xffffffff) magic = randomInt(0, 2 ** 32 - 1) >>> 0;
  return { number, magic, seed: randomInt(0, 2 ** 32 - 1) >>> 0 };
}

export function encodeSegmentHeader(header: SegmentHeader): Buffer {
  const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
  buf.writeUInt32BE(FILE_MAGIC, 0);
  buf.writeUInt16BE(VERSION, 4);
  buf.writeUInt32BE(header.number, 8);
  buf.writeUInt32BE(header.magic, 12);
  buf.writeUInt32BE(header.seed, 16);
  buf.writeUInt32BE(crc32(buf.subarray(0, 20)), 20);
  return buf;
}

/** The header of a segment file, or why it is not one. */
export function decodeSegmentHeader(buf: Buffer, number: number): SegmentHeader | string {
  if (buf.length < SEGMENT_HEADER_BYTES) return 'segment shorter than its header';
  if (buf.readUInt32BE(0) !== FILE_MAGIC) return 'not a journal segment';
  if (crc32(buf.subarray(0, 20)) !== buf.readUInt32BE(20)) return 'bad segment header checksum';
  if (buf.readUInt16BE(4) !== VERSION) return `unsupported segment version ${buf.readUInt16BE(4)}`;
  if (buf.readUInt32BE(8) !== number) return `header names segment ${buf.readUInt32BE(8)}`;
  return { number, magic: buf.readUInt32BE(12), seed: buf.readUInt32BE(16) };
}

/** `00000001.log` … */
export function segmentFileName(number: number): string {
  return `${String(number).padStart(8, '0')}.log`;
}

/** The segment number of a file name, or undefined if it is not a segment's. */
export function segmentNumberOf(name: string): number | undefined {
  const match = /^(\d{8,10})\.log$/.exec(name);
  if (!match) return undefined;
  const number = Number(match[1]);
  return number > 0 && segmentFileName(number) === name ? number : undefined;
}
