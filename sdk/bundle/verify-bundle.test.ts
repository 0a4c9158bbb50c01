import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { createSignedBundle } from './build-bundle.ts';
import type { BundleErrorCode } from './bundle-error.ts';
import { decodeBundle, encodeBundle, type BundleParts } from './bundle-format.ts';
import { agentCode, draftManifest, trustOf, vendorKeys } from './bundle-test-kit.ts';
import { signManifest, signPayload } from './signing.ts';
import { openBundle, type OpenOptions, type TrustLookup } from './verify-bundle.ts';

const keys = vendorKeys();
const trust = trustOf([
  { pair: keys.acme, vendors: ['acme', 'acme-labs'] },
  { pair: keys.other, vendors: ['globex'] },
]);
const enc = new TextEncoder();
const bundle = createSignedBundle({ manifest: draftManifest(), code: agentCode, privateKey: keys.acme.privateKey });

function partsOf(file: Uint8Array): BundleParts {
  const r = decodeBundle(file);
  assert.ok(r.ok);
  return r.value;
}

function flip(bytes: Uint8Array, at: number): void {
  bytes[at] = bytes[at]! ^ 0x01;
}

function refused(file: Uint8Array, code: BundleErrorCode, message: RegExp, lookup: TrustLookup = trust, opts: OpenOptions = {}): void {
  const r = openBundle(file, lookup, opts);
  assert.equal(r.ok, false, `expected ${code}`);
  if (!r.ok) {
    assert.equal(r.error.code, code, r.error.message);
    assert.match(r.error.message, message);
  }
}

/** A bundle whose manifest bytes are exactly `text`, validly signed by `privateKey`. */
function signedWithManifest(text: string, privateKey = keys.acme.privateKey, code = agentCode): Uint8Array {
  const manifestBytes = enc.encode(text);
  return encodeBundle({ manifestBytes, code, signature: signManifest(manifestBytes, privateKey) });
}

const codeHash = createHash('sha256').update(agentCode).digest('hex');
const manifestText = new TextDecoder().decode(partsOf(bundle).manifestBytes);

test('opens a valid signed bundle and returns the verified manifest, code and key id', () => {
  const r = openBundle(bundle, trust);
  assert.ok(r.ok);
  assert.equal(r.manifest.name, 'acme/greylist');
  assert.equal(r.manifest.code.sha256, codeHash);
  assert.deepEqual(r.code, agentCode);
  assert.equal(r.keyId, keys.acme.keyId);
  assert.equal(r.signed, true);
});

test('refuses a flipped byte in the manifest as BAD_SIGNATURE', () => {
  const parts = partsOf(bundle);
  const at = manifestText.indexOf('greylist');
  flip(parts.manifestBytes, at); // "greylist" -> "freylist": still a valid manifest, no longer the signed one
  refused(encodeBundle(parts), 'BAD_SIGNATURE', new RegExp(`does not verify with trusted key ${keys.acme.keyId}`));
});

test('refuses a flipped byte in the code as CODE_MISMATCH', () => {
  const parts = partsOf(bundle);
  flip(parts.code, 5);
  refused(encodeBundle(parts), 'CODE_MISMATCH', new RegExp(`the code's SHA-256 is [0-9a-f]{64} but the manifest says ${codeHash}`));
});

test('refuses code of another length as CODE_MISMATCH', () => {
  const parts = partsOf(bundle);
  refused(encodeBundle({ ...parts, code: enc.encode('export default {};') }), 'CODE_MISMATCH', /the code is 18 bytes but the manifest says \d+/);
});

test('refuses a flipped byte in the signature as BAD_SIGNATURE', () => {
  const parts = partsOf(bundle);
  const sig = Buffer.from(parts.signature!.sig, 'base64');
  flip(sig, 10);
  refused(encodeBundle({ ...parts, signature: { ...parts.signature!, sig: sig.toString('base64') } }), 'BAD_SIGNATURE', /does not verify/);
});

test('refuses a bundle signed by a key the store does not know as UNKNOWN_KEY', () => {
  const file = createSignedBundle({ manifest: draftManifest(), code: agentCode, privateKey: keys.stranger.privateKey });
  refused(file, 'UNKNOWN_KEY', new RegExp(`signed by key ${keys.stranger.keyId}, which is not in the trust store`));
});

test('refuses a key id pointing at a trusted key when another key signed, as BAD_SIGNATURE', () => {
  const parts = partsOf(createSignedBundle({ manifest: draftManifest(), code: agentCode, privateKey: keys.stranger.privateKey }));
  refused(encodeBundle({ ...parts, signature: { ...parts.signature!, keyId: keys.acme.keyId } }), 'BAD_SIGNATURE', /does not verify/);
});

test('refuses a bundle signed by a revoked key as REVOKED_KEY', () => {
  const revoked = trustOf([{ pair: keys.acme, vendors: ['acme'], revoked: true }]);
  refused(bundle, 'REVOKED_KEY', new RegExp(`signed by key ${keys.acme.keyId}, which has been revoked`), revoked);
});

test('refuses a bundle whose key is scoped to another vendor as VENDOR_NOT_ALLOWED', () => {
  const file = createSignedBundle({ manifest: draftManifest(), code: agentCode, privateKey: keys.other.privateKey });
  refused(file, 'VENDOR_NOT_ALLOWED', new RegExp(`key ${keys.other.keyId} may sign for globex, not for vendor "acme" of acme/greylist`));
  // A vendor name that merely starts with an allowed one is another vendor.
  const prefixed = createSignedBundle({ manifest: draftManifest({ name: 'globex-evil/x' }), code: agentCode, privateKey: keys.other.privateKey });
  refused(prefixed, 'VENDOR_NOT_ALLOWED', /not for vendor "globex-evil"/);
});

test('refuses an unsigned bundle unless allowed, and reports it as unsigned when allowed', () => {
  const parts = partsOf(bundle);
  const unsigned = encodeBundle({ ...parts, signature: null });
  refused(unsigned, 'UNSIGNED', /no signature/);
  const r = openBundle(unsigned, trust, { allowUnsigned: true });
  assert.ok(r.ok);
  assert.equal(r.signed, false);
  assert.equal(r.keyId, null);
  assert.equal(r.manifest.name, 'acme/greylist');
});

test('still verifies a signed bundle fully when unsigned ones are allowed', () => {
  const parts = partsOf(bundle);
  flip(parts.manifestBytes, manifestText.indexOf('greylist'));
  refused(encodeBundle(parts), 'BAD_SIGNATURE', /does not verify/, trust, { allowUnsigned: true });
  const stranger = createSignedBundle({ manifest: draftManifest(), code: agentCode, privateKey: keys.stranger.privateKey });
  refused(stranger, 'UNKNOWN_KEY', /not in the trust store/, trust, { allowUnsigned: true });
  const unsignedBadCode = encodeBundle({ ...partsOf(bundle), code: enc.encode('x'), signature: null });
  refused(unsignedBadCode, 'CODE_MISMATCH', /the code is 1 bytes/, trust, { allowUnsigned: true });
});

test('refuses a validly signed manifest with a duplicate key as BAD_MANIFEST, after the signature check', () => {
  // Both readers of first-wins and last-wins would disagree on the name; the bytes are signed anyway.
  const duplicated = manifestText.replace('{', '{"name":"globex/spy",');
  refused(signedWithManifest(duplicated), 'BAD_MANIFEST', /duplicate key "name"/);
  // The same bytes with a broken signature fail on the signature first: nothing unsigned is parsed.
  const parts = partsOf(signedWithManifest(duplicated));
  refused(encodeBundle({ ...parts, signature: signManifest(enc.encode('other'), keys.acme.privateKey) }), 'BAD_SIGNATURE', /does not verify/);
});

test('refuses a validly signed manifest that breaks the schema as BAD_MANIFEST naming the fields', () => {
  const m = JSON.parse(manifestText);
  refused(signedWithManifest(JSON.stringify({ ...m, memoryMiB: 4096, extra: true })), 'BAD_MANIFEST', /memoryMiB: Invalid value.*; extra: unknown field/);
  refused(signedWithManifest(`${manifestText} x`), 'BAD_MANIFEST', /not strict JSON: trailing characters/);
  refused(signedWithManifest(`\ufeff${manifestText}`), 'BAD_MANIFEST', /not strict JSON/);
  const latin1 = enc.encode(manifestText);
  latin1[latin1.length - 2] = 0xff;
  refused(encodeBundle({ manifestBytes: latin1, code: agentCode, signature: signManifest(latin1, keys.acme.privateKey) }), 'BAD_MANIFEST', /not valid UTF-8/);
});

test('refuses a signature made over the same manifest bytes under another payload type', () => {
  const parts = partsOf(bundle);
  const other = signPayload('application/vnd.in-toto+json', parts.manifestBytes, keys.acme.privateKey);
  refused(encodeBundle({ ...parts, signature: other }), 'BAD_SIGNATURE', /does not verify/);
});

test('refuses mixing one bundle\'s signed manifest with another bundle\'s code', () => {
  const v2 = createSignedBundle({ manifest: draftManifest({ version: '2.0.0' }), code: enc.encode('evil()'), privateKey: keys.acme.privateKey });
  refused(encodeBundle({ ...partsOf(bundle), code: partsOf(v2).code }), 'CODE_MISMATCH', /the code is 6 bytes/);
});

test('reports container errors before anything else', () => {
  refused(bundle.subarray(0, bundle.byteLength - 1), 'TRUNCATED', /signature section ends after/);
  const longer = new Uint8Array(bundle.byteLength + 3);
  longer.set(bundle);
  refused(longer, 'TRAILING_BYTES', /3 bytes follow the signature section/);
  refused(enc.encode('#!/bin/sh\n'), 'BAD_MAGIC', /not a Sluice agent bundle/);
  refused(new Uint8Array(17 * 1024 * 1024 + 1), 'OVERSIZE', /more than/);
});
