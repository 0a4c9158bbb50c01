/** Ed25519 keys and signatures over DSSE's pre-authentication encoding of the manifest bytes. */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import type { BundleSignature } from './bundle-format.ts';

/**
 * The payload type bound into every manifest signature, so that a signature made for any other kind
 * of document never verifies as a manifest signature.
 * @example
 * pae(MANIFEST_PAYLOAD_TYPE, manifestBytes);
 */
export const MANIFEST_PAYLOAD_TYPE = 'application/vnd.sluice.agent-manifest+json;v=1';

/**
 * A vendor key pair: the raw 32-byte public key in base64, the private key as PKCS#8 PEM, and the id
 * the trust store files the public key under.
 * @example
 * const { publicKey, privateKey, keyId } = generateKeyPair();
 */
export interface VendorKeyPair {
  publicKey: string;
  privateKey: string;
  keyId: string;
}

const encoder = new TextEncoder();
// DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw key follows.
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
// The group order L, little-endian, for the RFC 8032 §5.1.7 check S < L.
const L = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
]);

/**
 * DSSE v1 pre-authentication encoding: `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in
 * decimal ASCII of byte counts.
 * @example
 * pae('t', new Uint8Array([1])); // bytes of "DSSEv1 1 t 1 \x01"
 */
export function pae(payloadType: string, body: Uint8Array): Uint8Array {
  const type = encoder.encode(payloadType);
  const head = encoder.encode(`DSSEv1 ${type.byteLength} ${payloadType} ${body.byteLength} `);
  const out = new Uint8Array(head.byteLength + body.byteLength);
  out.set(head, 0);
  out.set(body, head.byteLength);
  return out;
}

/** Decodes canonical base64 (padding required, no whitespace); null for anything else. */
function strictBase64(text: string): Uint8Array | null {
  if (typeof text !== 'string' || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? new Uint8Array(bytes) : null;
}

/**
 * Decodes a base64 Ed25519 public key (32 raw bytes); null when it is not exactly that.
 * @example
 * rawPublicKey(generateKeyPair().publicKey)?.byteLength; // 32
 */
export function rawPublicKey(publicKey: string): Uint8Array | null {
  const raw = strictBase64(publicKey);
  return raw !== null && raw.byteLength === 32 ? raw : null;
}

function publicKeyObject(raw: Uint8Array): KeyObject | null {
  const der = new Uint8Array(SPKI_PREFIX.byteLength + 32);
  der.set(SPKI_PREFIX, 0);
  der.set(raw, SPKI_PREFIX.byteLength);
  try {
    return createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  } catch {
    return null;
  }
}

/**
 * The id of a public key: base64url of its SHA-256, first 22 characters (132 bits). Throws a
 * TypeError when `publicKey` is not the base64 of 32 bytes.
 * @example
 * keyIdFor(publicKey).length; // 22
 */
export function keyIdFor(publicKey: string): string {
  const raw = rawPublicKey(publicKey);
  if (raw === null) throw new TypeError('public key is not the base64 of 32 bytes');
  return createHash('sha256').update(raw).digest('base64url').slice(0, 22);
}

/**
 * Makes a new Ed25519 vendor key pair. Keep `privateKey` secret; give `publicKey` to admins.
 * @example
 * const keys = generateKeyPair();
 * await writeFile('vendor.key', keys.privateKey, { mode: 0o600 });
 */
export function generateKeyPair(): VendorKeyPair {
  const pair = generateKeyPairSync('ed25519');
  const spki = pair.publicKey.export({ format: 'der', type: 'spki' });
  const publicKey = Buffer.from(spki.subarray(SPKI_PREFIX.byteLength)).toString('base64');
  const privateKey = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return { publicKey, privateKey, keyId: keyIdFor(publicKey) };
}

/**
 * Signs `body` under an explicit payload type. Prefer {@link signManifest}; this exists for tools that
 * sign other document types with the same keys.
 * @example
 * signPayload(MANIFEST_PAYLOAD_TYPE, manifestBytes, privateKey);
 */
export function signPayload(payloadType: string, body: Uint8Array, privateKey: string): BundleSignature {
  const key = createPrivateKey(privateKey);
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError('private key is not an Ed25519 key');
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const keyId = keyIdFor(Buffer.from(spki.subarray(SPKI_PREFIX.byteLength)).toString('base64'));
  return { keyId, sig: sign(null, pae(payloadType, body), key).toString('base64') };
}

/**
 * Signs the exact manifest bytes that will go into the bundle.
 * @example
 * const signature = signManifest(manifestBytes, keys.privateKey);
 */
export function signManifest(manifestBytes: Uint8Array, privateKey: string): BundleSignature {
  return signPayload(MANIFEST_PAYLOAD_TYPE, manifestBytes, privateKey);
}

function canonicalS(sig: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = sig[32 + i]!;
    if (s !== L[i]) return s < L[i]!;
  }
  return false;
}

/**
 * Verifies a manifest signature with a key the caller trusts (never one carried in the bundle). False
 * when the key id does not name that key, when the signature is not 64 bytes or its S is not canonical,
 * or when it does not verify over PAE(manifest type, manifest bytes).
 * @example
 * if (!verifySignature(manifestBytes, signature, trusted.publicKey)) refuse();
 */
export function verifySignature(manifestBytes: Uint8Array, signature: BundleSignature, publicKey: string): boolean {
  const raw = rawPublicKey(publicKey);
  if (raw === null || keyIdFor(publicKey) !== signature.keyId) return false;
  const sig = strictBase64(signature.sig);
  if (sig === null || sig.byteLength !== 64 || !canonicalS(sig)) return false;
  const key = publicKeyObject(raw);
  if (key === null) return false;
  try {
    return verify(null, pae(MANIFEST_PAYLOAD_TYPE, manifestBytes), key, sig);
  } catch {
    return false;
  }
}
