import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BUNDLE_MAGIC, decodeBundle, encodeBundle, MAX_BUNDLE_BYTES, MAX_MANIFEST_BYTES, type BundleParts } from './bundle-format.ts';

const enc = new TextEncoder();
const signature = { keyId: 'abcdefghijklmnopqrstuv', sig: `${'A'.repeat(86)}==` };
const parts: BundleParts = { manifestBytes: enc.encode('{"a":1}'), code: enc.encode('code\n'), signature };

function codeOf(bytes: Uint8Array): string {
  const r = decodeBundle(bytes);
  assert.equal(r.ok, false);
  return r.ok ? '' : r.error.code;
}

test('frames each section as decimal length, newline, exact bytes, in a fixed order', () => {
  const file = encodeBundle(parts);
  const sig = JSON.stringify(signature);
  assert.equal(Buffer.from(file).toString('utf8'), `${BUNDLE_MAGIC}7\n{"a":1}5\ncode\n${sig.length}\n${sig}`);
  const back = decodeBundle(file);
  assert.ok(back.ok);
  assert.deepEqual(back.value, parts);
});

test('round-trips an unsigned bundle with an empty signature section and empty code', () => {
  const unsigned = { ...parts, code: new Uint8Array(0), signature: null };
  const file = encodeBundle(unsigned);
  assert.ok(Buffer.from(file).toString('utf8').endsWith('0\n0\n'));
  assert.deepEqual(decodeBundle(file), { ok: true, value: unsigned });
});

test('returns copies, so later changes to the input cannot reach the sections', () => {
  const file = encodeBundle(parts);
  const r = decodeBundle(file);
  file.fill(0);
  assert.ok(r.ok && r.value.manifestBytes[0] === 0x7b);
});

test('refuses a bad magic line', () => {
  assert.equal(codeOf(enc.encode('SLUICE-AGENT-BUNDLE 2\n1\nx0\n0\n')), 'BAD_MAGIC');
  assert.equal(codeOf(enc.encode('PK\u0003\u0004')), 'BAD_MAGIC');
});

test('refuses a bundle cut short at every possible length', () => {
  const file = encodeBundle(parts);
  for (let n = 0; n < file.byteLength; n++) {
    assert.equal(codeOf(file.subarray(0, n)), 'TRUNCATED', `cut at ${n}`);
  }
});

test('refuses trailing bytes after the signature section', () => {
  const file = encodeBundle(parts);
  const longer = new Uint8Array(file.byteLength + 1);
  longer.set(file);
  assert.equal(codeOf(longer), 'TRAILING_BYTES');
  assert.equal(codeOf(enc.encode(`${BUNDLE_MAGIC}2\n{}0\n0\n\n`)), 'TRAILING_BYTES');
});

test('refuses lengths that are not plain decimal', () => {
  for (const head of ['07\n', '+7\n', '-7\n', ' 7\n', '7 \n', '0x7\n', '\n', '7\r\n']) {
    assert.equal(codeOf(enc.encode(`${BUNDLE_MAGIC}${head}{"a":1}0\n0\n`)), 'BAD_FRAMING', JSON.stringify(head));
  }
  assert.equal(codeOf(enc.encode(`${BUNDLE_MAGIC}0\n0\n0\n`)), 'BAD_FRAMING'); // empty manifest
});

test('refuses oversized files and sections before reading them', () => {
  assert.equal(codeOf(new Uint8Array(MAX_BUNDLE_BYTES + 1)), 'OVERSIZE');
  assert.equal(codeOf(enc.encode(`${BUNDLE_MAGIC}${MAX_MANIFEST_BYTES + 1}\n`)), 'OVERSIZE');
  assert.equal(codeOf(enc.encode(`${BUNDLE_MAGIC}${'9'.repeat(40)}\n`)), 'OVERSIZE');
  assert.equal(codeOf(enc.encode(`${BUNDLE_MAGIC}2\n{}0\n2000\n`)), 'OVERSIZE');
  assert.throws(() => encodeBundle({ ...parts, manifestBytes: new Uint8Array(MAX_MANIFEST_BYTES + 1) }), RangeError);
  assert.throws(() => encodeBundle({ ...parts, code: new Uint8Array(MAX_BUNDLE_BYTES) }), RangeError);
});

test('refuses a signature section that is not the strict signature JSON', () => {
  const withSig = (text: string): Uint8Array => enc.encode(`${BUNDLE_MAGIC}2\n{}0\n${enc.encode(text).byteLength}\n${text}`);
  const good = JSON.stringify(signature);
  assert.ok(decodeBundle(withSig(good)).ok);
  for (const text of [
    '{}',
    'null',
    `{"keyId":"${signature.keyId}","sig":"${signature.sig}","publicKey":"x"}`,
    `{"keyId":"${signature.keyId}","keyId":"${signature.keyId}","sig":"${signature.sig}"}`,
    `{"keyId":"short","sig":"${signature.sig}"}`,
    `{"keyId":"${signature.keyId}","sig":"AAAA"}`,
    good.slice(0, -1),
  ]) {
    assert.equal(codeOf(withSig(text)), 'BAD_SIGNATURE', text);
  }
  const r = decodeBundle(withSig(`{"keyId":"${signature.keyId}","sig":"AAAA"}`));
  assert.ok(!r.ok && /sig: Invalid sig/.test(r.error.message));
});
