/** Assertions on delivered Maildir files: split off the server's trace header, compare bytes readably. */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';

const CRLF = Buffer.from('\r\n');

/**
 * Splits a Maildir file into the server's `Received:` header (with its folded lines) and the rest,
 * after the `Return-Path:` line local delivery puts first (RFC 5321 §4.4), which `returnPath` gets.
 */
export function splitTrace(file: Buffer): { trace: string; body: Buffer; returnPath: string } {
  assert.equal(file.subarray(0, 13).toString('latin1'), 'Return-Path: ');
  const first = file.indexOf(CRLF);
  const returnPath = file.subarray(13, first).toString('utf8');
  file = file.subarray(first + 2);
  assert.equal(file.subarray(0, 10).toString('latin1'), 'Received: ');
  let at = 0;
  for (;;) {
    const eol = file.indexOf(CRLF, at);
    assert.ok(eol !== -1, 'unterminated Received header');
    at = eol + 2;
    if (file[at] !== 0x20 && file[at] !== 0x09) break;
  }
  return { trace: file.subarray(0, at).toString('utf8'), body: file.subarray(at), returnPath };
}

/** Asserts byte equality without dumping megabytes into the failure message. */
export function assertSameBytes(actual: Buffer, expected: Uint8Array, what: string): void {
  const want = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (actual.equals(want)) return;
  let i = 0;
  while (i < actual.length && i < want.length && actual[i] === want[i]) i++;
  const around = (b: Buffer): string => JSON.stringify(b.subarray(Math.max(0, i - 40), i + 40).toString('latin1'));
  assert.fail(`${what}: ${actual.length} bytes stored, ${want.length} sent; first difference at ${i}: stored ${around(actual)} sent ${around(want)}`);
}
