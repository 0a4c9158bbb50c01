import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, verify } from 'node:crypto';
import { test } from 'node:test';
import { generateKeyPair, keyIdFor, MANIFEST_PAYLOAD_TYPE, pae, rawPublicKey, signManifest, signPayload, verifySignature } from './signing.ts';

const keys = generateKeyPair();
const body = new TextEncoder().encode('{"name":"acme/x"}');

test('generates a raw 32-byte public key, a PKCS#8 PEM private key and a 22-character key id', () => {
  assert.equal(rawPublicKey(keys.publicKey)?.byteLength, 32);
  assert.match(keys.privateKey, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.equal(createPrivateKey(keys.privateKey).asymmetricKeyType, 'ed25519');
  assert.match(keys.keyId, /^[A-Za-z0-9_-]{22}$/);
  assert.equal(keyIdFor(keys.publicKey), keys.keyId);
  assert.notEqual(generateKeyPair().keyId, keys.keyId);
  assert.throws(() => keyIdFor('AAAA'), TypeError);
});

test('encodes DSSE PAE with byte lengths, not character lengths', () => {
  const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
  assert.equal(text(pae('t', new TextEncoder().encode('hi'))), 'DSSEv1 1 t 2 hi');
  assert.equal(text(pae('', new Uint8Array(0))), 'DSSEv1 0  0 ');
  assert.equal(text(pae('t', new TextEncoder().encode('é'))), 'DSSEv1 1 t 2 \xc3\xa9');
});

test('signs PAE(manifest type, bytes) so the signature verifies as plain Ed25519 over exactly that', () => {
  const signature = signManifest(body, keys.privateKey);
  assert.equal(signature.keyId, keys.keyId);
  assert.ok(verifySignature(body, signature, keys.publicKey));
  const spki = createPublicKey(createPrivateKey(keys.privateKey));
  assert.ok(verify(null, pae(MANIFEST_PAYLOAD_TYPE, body), spki, Buffer.from(signature.sig, 'base64')));
  assert.equal(verify(null, body, spki, Buffer.from(signature.sig, 'base64')), false);
});

test('refuses a signature made over the same bytes under another payload type', () => {
  const other = signPayload('application/vnd.sluice.revocation+json;v=1', body, keys.privateKey);
  assert.equal(verifySignature(body, other, keys.publicKey), false);
});

test('refuses other bytes, another key, a mismatched key id and malformed signatures', () => {
  const signature = signManifest(body, keys.privateKey);
  const other = generateKeyPair();
  assert.equal(verifySignature(new TextEncoder().encode('{"name":"acme/y"}'), signature, keys.publicKey), false);
  assert.equal(verifySignature(body, { ...signature, keyId: other.keyId }, other.publicKey), false);
  assert.equal(verifySignature(body, signature, other.publicKey), false);
  assert.equal(verifySignature(body, { ...signature, sig: 'AAAA' }, keys.publicKey), false);
  assert.equal(verifySignature(body, { ...signature, sig: `${signature.sig.slice(0, -2)}` }, keys.publicKey), false);
  assert.equal(verifySignature(body, signature, 'not base64!'), false);
  assert.equal(verifySignature(body, signature, `${keys.publicKey}\n`), false);
});

test('refuses a malleated signature whose S is not reduced below the group order', () => {
  const signature = signManifest(body, keys.privateKey);
  const sig = Buffer.from(signature.sig, 'base64');
  // S + L: same group element, different bytes (RFC 8032 §5.1.7 requires S < L).
  const L = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex');
  let carry = 0;
  for (let i = 0; i < 32; i++) {
    const sum = sig[32 + i]! + L[i]! + carry;
    sig[32 + i] = sum & 0xff;
    carry = sum >> 8;
  }
  assert.equal(carry, 0);
  assert.equal(verifySignature(body, { ...signature, sig: sig.toString('base64') }, keys.publicKey), false);
});

test('refuses to sign with a key that is not Ed25519', async () => {
  const { generateKeyPairSync } = await import('node:crypto');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  assert.throws(() => signManifest(body, ec), /not an Ed25519 key/);
});
