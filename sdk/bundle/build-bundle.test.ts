import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { canonicalJson, createSignedBundle, ManifestError } from './build-bundle.ts';
import { decodeBundle } from './bundle-format.ts';
import { agentCode, draftManifest } from './bundle-test-kit.ts';
import { generateKeyPair, verifySignature } from './signing.ts';

const keys = generateKeyPair();

test('serializes JSON with keys sorted at every depth and no whitespace', () => {
  assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: 'é' }], c: undefined }), '{"a":[{"c":"é","d":2}],"b":1}');
  assert.equal(canonicalJson({ '\u00e9': 1, z: 2, A: 3 }), '{"A":3,"z":2,"é":1}');
  assert.throws(() => canonicalJson({ f: () => 1 }), TypeError);
});

test('fills in the code hash and length, applies defaults, sorts keys and signs the exact bytes', () => {
  const file = createSignedBundle({ manifest: draftManifest(), code: agentCode, privateKey: keys.privateKey });
  const parts = decodeBundle(file);
  assert.ok(parts.ok && parts.value.signature !== null);
  const text = new TextDecoder().decode(parts.value.manifestBytes);
  const manifest = JSON.parse(text);
  assert.deepEqual(manifest.code, { sha256: createHash('sha256').update(agentCode).digest('hex'), bytes: agentCode.byteLength });
  assert.equal(manifest.wantsBody, false);
  assert.equal(text, canonicalJson(manifest));
  assert.deepEqual(Object.keys(manifest), [...Object.keys(manifest)].sort());
  assert.equal(parts.value.signature.keyId, keys.keyId);
  assert.ok(verifySignature(parts.value.manifestBytes, parts.value.signature, keys.publicKey));
  assert.deepEqual(parts.value.code, agentCode);
});

test('builds the same bytes for the same manifest whatever the key order of the draft', () => {
  const a = createSignedBundle({ manifest: draftManifest(), code: agentCode, privateKey: keys.privateKey });
  const reordered = Object.fromEntries(Object.entries(draftManifest()).reverse()) as ReturnType<typeof draftManifest>;
  const b = createSignedBundle({ manifest: reordered, code: agentCode, privateKey: keys.privateKey });
  assert.deepEqual(a, b); // Ed25519 is deterministic, so the signatures agree too
});

test('throws a ManifestError naming the fields of an invalid manifest', () => {
  assert.throws(
    () => createSignedBundle({ manifest: draftManifest({ memoryMiB: 1, code: undefined, extra: 1 }), code: agentCode, privateKey: keys.privateKey }),
    (e: unknown) => e instanceof ManifestError && e.code === 'BAD_MANIFEST' && e.issues.some((i) => i.startsWith('memoryMiB:')) && e.issues.includes('extra: unknown field'),
  );
});
