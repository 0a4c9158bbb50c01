// Frame encoding and reassembly for the sandbox host channel.
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame, encodeFrameUpTo, FRAME_CEILING_BYTES, frameCapFor, frameLine, frameLineUpTo, FrameError, LineDecoder, MAX_FRAME_BYTES, parseFrame } from './frame-codec.ts';

const NEWLINE = 0x0a;
const bytesOf = (text: string): Uint8Array => new TextEncoder().encode(text);

test('frames split at every byte boundary reassemble into the same messages', () => {
  const messages = [{ type: 'ping', id: 1 }, { text: 'héllo ✉ \n in a string' }, [1, 2, 3]];
  const bytes = bytesOf(messages.map(encodeFrame).join(''));
  for (let size = 1; size <= 7; size++) {
    const decoder = new LineDecoder();
    const out: unknown[] = [];
    for (let i = 0; i < bytes.length; i += size) out.push(...decoder.push(bytes.subarray(i, i + size)).map(parseFrame));
    assert.deepEqual(out, messages);
    assert.equal(decoder.pending, 0);
  }
});

test('a frame is one line: JSON newlines are escaped, and the line ends with the only raw newline', () => {
  const line = encodeFrame({ text: 'a\nb\r\nc' });
  assert.equal(line.indexOf('\n'), line.length - 1);
  assert.deepEqual(parseFrame(line.slice(0, -1)), { text: 'a\nb\r\nc' });
});

test('several frames in one chunk all come out, a partial tail waits', () => {
  const a = bytesOf(encodeFrame({ n: 1 }));
  const b = bytesOf(encodeFrame({ n: 2 }));
  const chunk = new Uint8Array([...a, ...b.subarray(0, 5)]);
  const decoder = new LineDecoder();
  assert.deepEqual(decoder.push(chunk).map(parseFrame), [{ n: 1 }]);
  assert.equal(decoder.pending, 5);
  assert.deepEqual(decoder.push(b.subarray(5)).map(parseFrame), [{ n: 2 }]);
  assert.equal(decoder.pending, 0);
});

test('a pending tail is copied, so the sender may reuse its chunk (a Buffer too)', () => {
  for (const chunk of [bytesOf('{"n":'), Buffer.from('{"n":')]) {
    const decoder = new LineDecoder();
    decoder.push(chunk);
    chunk.fill(0x20);
    assert.deepEqual(decoder.push(bytesOf('7}\n')).map(parseFrame), [{ n: 7 }]);
  }
});

test('a line over the maximum is refused before its end arrives', () => {
  const decoder = new LineDecoder();
  const half = new Uint8Array(MAX_FRAME_BYTES / 2 + 1).fill(0x20);
  decoder.push(half);
  assert.throws(() => decoder.push(half), FrameError);
  assert.throws(() => new LineDecoder().push(new Uint8Array(MAX_FRAME_BYTES + 2).fill(0x20).fill(NEWLINE, MAX_FRAME_BYTES + 1)), FrameError);
});

test('a message over the maximum is refused when encoded', () => {
  assert.throws(() => frameLine('"' + 'x'.repeat(MAX_FRAME_BYTES) + '"'), FrameError);
  assert.throws(() => frameLine('"' + '✉'.repeat(MAX_FRAME_BYTES / 3 + 1) + '"'), FrameError);
  assert.throws(() => encodeFrame(undefined), FrameError);
});

test('a line that is not UTF-8 or not JSON is a frame error', () => {
  assert.throws(() => new LineDecoder().push(new Uint8Array([0xff, 0xfe, NEWLINE])), FrameError);
  assert.throws(() => parseFrame('{'), FrameError);
  assert.throws(() => parseFrame(''), FrameError);
});

test('frameCapFor leaves room for the base64 of the largest message, never below the default nor above the ceiling', () => {
  assert.equal(frameCapFor(1024), MAX_FRAME_BYTES);
  const size = 25 * 1024 * 1024;
  assert.ok(frameCapFor(size) >= Math.ceil(size / 3) * 4 + 64 * 1024, 'a 25 MiB message fits with its JSON around it');
  assert.ok(frameCapFor(size) > MAX_FRAME_BYTES);
  assert.equal(frameCapFor(2 * 1024 * 1024 * 1024), FRAME_CEILING_BYTES);
});

test('a decoder and an encoder with their own limit refuse past it and accept up to it', () => {
  const limit = 1000;
  const fits = 'x'.repeat(limit);
  assert.equal(frameLineUpTo(fits, limit), `${fits}\n`);
  assert.throws(() => frameLineUpTo(`${fits}x`, limit), (e: unknown) => e instanceof FrameError && /exceeds 1000/.test(e.message));
  assert.throws(() => encodeFrameUpTo({ text: fits }, limit), FrameError);
  const decoder = new LineDecoder(limit);
  assert.deepEqual(decoder.push(bytesOf(`${fits}\n`)), [fits]);
  assert.throws(() => decoder.push(bytesOf(`${fits}x`)), (e: unknown) => e instanceof FrameError && /more than 1000/.test(e.message));
  // The default decoder takes what the small one refused.
  assert.deepEqual(new LineDecoder().push(bytesOf(`${fits}x\n`)), [`${fits}x`]);
});
