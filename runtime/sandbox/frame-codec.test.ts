// Frame encoding and reassembly for the sandbox host channel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame, FrameDecoder, FrameError, MAX_FRAME_BYTES } from './frame-codec.ts';

test('frames split at every byte boundary reassemble into the same messages', () => {
  const messages = [{ type: 'ping', id: 1 }, { text: 'héllo ✉' }, [1, 2, 3]];
  const bytes = new Uint8Array(messages.flatMap((m) => [...encodeFrame(m)]));
  for (let size = 1; size <= 7; size++) {
    const decoder = new FrameDecoder();
    const out: unknown[] = [];
    for (let i = 0; i < bytes.length; i += size) out.push(...decoder.push(bytes.subarray(i, i + size)));
    assert.deepEqual(out, messages);
    assert.equal(decoder.pending, 0);
  }
});

test('several frames in one chunk all come out, a partial tail waits', () => {
  const a = encodeFrame({ n: 1 });
  const b = encodeFrame({ n: 2 });
  const chunk = new Uint8Array([...a, ...b.subarray(0, 5)]);
  const decoder = new FrameDecoder();
  assert.deepEqual(decoder.push(chunk), [{ n: 1 }]);
  assert.equal(decoder.pending, 5);
  assert.deepEqual(decoder.push(b.subarray(5)), [{ n: 2 }]);
});

test('a length over the maximum is refused before any body arrives', () => {
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, MAX_FRAME_BYTES + 1, false);
  assert.throws(() => new FrameDecoder().push(header), FrameError);
});

test('a body that is not UTF-8 JSON is a frame error', () => {
  const bad = new Uint8Array([0, 0, 0, 2, 0xff, 0xfe]);
  assert.throws(() => new FrameDecoder().push(bad), FrameError);
  const notJson = new Uint8Array([0, 0, 0, 1, 0x7b]);
  assert.throws(() => new FrameDecoder().push(notJson), FrameError);
});
