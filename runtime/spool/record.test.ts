// Tests for record framing and segment scanning, on buffers only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeRecord,
  encodeRecordHeader,
  findNextRecord,
  RECORD_HEADER_BYTES,
  type RecordKey,
  RecordType,
} from './record.ts';
import { scanSegment } from './segment-scan.ts';
import { decodeSegmentHeader, encodeSegmentHeader, newSegmentHeader, segmentNumberOf } from './segment-header.ts';

const key: RecordKey = { magic: 0x9e3779b9, seed: 12345 };

function record(type: (typeof RecordType)[keyof typeof RecordType], ...parts: string[]): Buffer {
  const buffers = parts.map((p) => Buffer.from(p));
  const length = buffers.reduce((n, b) => n + b.length, 0);
  return Buffer.concat([encodeRecordHeader(key, type, buffers, length), ...buffers]);
}

test('a record encoded from parts decodes to its type and payload', () => {
  const buf = record(RecordType.state, 'hello ', 'world');
  const decoded = decodeRecord(buf, 0, key);
  assert.ok(decoded.ok);
  assert.equal(decoded.type, RecordType.state);
  assert.equal(buf.toString('utf8', decoded.payloadStart, decoded.end), 'hello world');
  assert.equal(decoded.end, buf.length);
});

test('flipping any single bit of a record is detected', () => {
  const buf = record(RecordType.done, '01ABCDEFGHJKMNPQRSTVWXYZ01');
  for (let i = 0; i < buf.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const copy = Buffer.from(buf);
      copy[i] = copy[i]! ^ (1 << bit);
      assert.equal(decodeRecord(copy, 0, key).ok, false, `byte ${i} bit ${bit}`);
    }
  }
});

test('a record checks out only under the key of the segment that wrote it', () => {
  const buf = record(RecordType.done, 'payload');
  assert.equal(decodeRecord(buf, 0, { magic: key.magic, seed: key.seed + 1 }).ok, false);
  assert.equal(decodeRecord(buf, 0, { magic: key.magic + 1, seed: key.seed }).ok, false);
});

test('findNextRecord skips garbage, including a stray magic, to the next valid record', () => {
  const magic = Buffer.alloc(4);
  magic.writeUInt32BE(key.magic);
  const garbage = Buffer.concat([Buffer.from('xx'), magic, Buffer.from('not a record at all')]);
  const good = record(RecordType.done, 'id');
  const buf = Buffer.concat([garbage, good]);
  assert.equal(findNextRecord(buf, 0, key), garbage.length);
  assert.equal(findNextRecord(buf, garbage.length + 1, key), -1);
});

test('scanning yields records, damage up to the resync point, and a torn tail only in the newest segment', () => {
  const a = record(RecordType.done, 'a');
  const broken = record(RecordType.done, 'broken');
  broken[RECORD_HEADER_BYTES] = 0;
  const b = record(RecordType.done, 'b');
  const partial = record(RecordType.done, 'partial').subarray(0, 10);
  const buf = Buffer.concat([a, broken, b, partial]);
  const kinds = (newest: boolean): string[] => [...scanSegment(buf, key, 0, newest)].map((e) => e.kind);
  assert.deepEqual(kinds(true), ['record', 'damage', 'record', 'torn']);
  assert.deepEqual(kinds(false), ['record', 'damage', 'record', 'damage']);
  const events = [...scanSegment(buf, key, 0, true)];
  assert.deepEqual(events[1], {
    kind: 'damage',
    start: a.length,
    end: a.length + broken.length,
    reason: 'bad record checksum',
  });
  assert.equal(events[3]?.kind === 'torn' && events[3].damaged, false);
});

test('a segment header round-trips and rejects a wrong number or a flipped byte', () => {
  const header = newSegmentHeader(7);
  const buf = encodeSegmentHeader(header);
  assert.deepEqual(decodeSegmentHeader(buf, 7), header);
  assert.match(String(decodeSegmentHeader(buf, 8)), /names segment 7/);
  buf[13] = buf[13]! ^ 1;
  assert.match(String(decodeSegmentHeader(buf, 7)), /checksum/);
});

test('only canonical segment file names are segments', () => {
  assert.equal(segmentNumberOf('00000001.log'), 1);
  assert.equal(segmentNumberOf('123456789.log'), 123456789);
  assert.equal(segmentNumberOf('000000001.log'), undefined);
  assert.equal(segmentNumberOf('00000000.log'), undefined);
  assert.equal(segmentNumberOf('00000001.log.tmp'), undefined);
});
