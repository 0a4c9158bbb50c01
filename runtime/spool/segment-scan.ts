// Walks the records of one segment image: valid records, damaged spans (with the resync point), a torn tail.
import {
  decodeRecord,
  findNextRecord,
  type RecordKey,
  type RecordTypeCode,
  RUNS_PAST_END,
  SHORT_HEADER,
} from './record.ts';

export type ScanEvent =
  | { kind: 'record'; type: RecordTypeCode; start: number; payloadStart: number; end: number }
  /** Bytes [start, end) do not form records; a valid record starts at `end` (or the span runs to EOF). */
  | { kind: 'damage'; start: number; end: number; reason: string }
  /**
   * Nothing valid follows `start` in the newest segment: the tail is cut off there. `damaged` when it
   * does not look like an interrupted append (a whole record that fails its checksum, say), so the
   * bytes are worth setting aside first.
   */
  | { kind: 'torn'; start: number; reason: string; damaged: boolean };

/**
 * Yields what the segment holds from `from` on. After a bad record the scan resyncs at the next
 * magic whose record checks out. Trailing garbage is a torn tail only in the newest segment, where
 * an append can have been cut short; anywhere else it is damage.
 */
export function* scanSegment(buf: Buffer, key: RecordKey, from: number, newest: boolean): Generator<ScanEvent> {
  let pos = from;
  while (pos < buf.length) {
    const record = decodeRecord(buf, pos, key);
    if (record.ok) {
      yield { kind: 'record', type: record.type, start: pos, payloadStart: record.payloadStart, end: record.end };
      pos = record.end;
      continue;
    }
    const next = findNextRecord(buf, pos + 1, key);
    if (next < 0) {
      if (newest) {
        yield { kind: 'torn', start: pos, reason: record.reason, damaged: !looksInterrupted(buf, pos, record.reason) };
      } else yield { kind: 'damage', start: pos, end: buf.length, reason: record.reason };
      return;
    }
    yield { kind: 'damage', start: pos, end: next, reason: record.reason };
    pos = next;
  }
}

/** A partial header, a length that runs past the end, or zeros: what a crash mid-append leaves. */
function looksInterrupted(buf: Buffer, pos: number, reason: string): boolean {
  if (reason === SHORT_HEADER || reason.endsWith(RUNS_PAST_END)) return true;
  for (let i = pos; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}
