/** Opens a bundle: every check in a fixed order, the manifest parsed only from bytes whose signature verified. */
import { createHash } from 'node:crypto';
import * as v from 'valibot';
import { bundleError, type BundleError } from './bundle-error.ts';
import { decodeBundle } from './bundle-format.ts';
import { parseJsonBytesStrict } from './json-strict.ts';
import { formatManifestIssues, ManifestSchema, type Manifest } from './manifest.ts';
import { verifySignature } from './signing.ts';

/**
 * A key the admin trusts: the public key (base64 raw 32 bytes), the vendors it may sign for, and
 * whether it was revoked.
 * @example
 * const key: TrustedKey = { publicKey, vendors: ['acme'], revoked: false };
 */
export interface TrustedKey {
  publicKey: string;
  vendors: readonly string[];
  revoked: boolean;
}

/**
 * Where {@link openBundle} looks up the key a bundle names. The runtime's trust store is one.
 * @example
 * const trust: TrustLookup = { keyFor: (id) => (id === keyId ? key : undefined) };
 */
export interface TrustLookup {
  keyFor(keyId: string): TrustedKey | undefined;
}

/**
 * Options for {@link openBundle}. `allowUnsigned` is for an explicit development mode only.
 * @example
 * openBundle(bytes, trust, { allowUnsigned: devMode });
 */
export interface OpenOptions {
  allowUnsigned?: boolean;
}

/**
 * An opened bundle, or why it was refused.
 * @example
 * const r: OpenResult = openBundle(bytes, trust);
 */
export type OpenResult =
  | { ok: true; manifest: Manifest; code: Uint8Array; keyId: string | null; signed: boolean }
  | { ok: false; error: BundleError };

/**
 * Checks a bundle file in this order, stopping at the first failure: container framing; a signature
 * is present (`UNSIGNED` unless `allowUnsigned`); its key id is in `trust` (`UNKNOWN_KEY`); the key
 * is not revoked (`REVOKED_KEY`); the signature verifies over PAE(manifest bytes) (`BAD_SIGNATURE`);
 * only then the manifest bytes are parsed strictly (`BAD_MANIFEST`); the key may sign for the
 * manifest's vendor (`VENDOR_NOT_ALLOWED`); the code matches the manifest's SHA-256 and length
 * (`CODE_MISMATCH`). A signed bundle is fully verified even when unsigned ones are allowed.
 * @example
 * const r = openBundle(await readFile(path), trustStore);
 * if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
 */
export function openBundle(bytes: Uint8Array, trust: TrustLookup, opts: OpenOptions = {}): OpenResult {
  const decoded = decodeBundle(bytes);
  if (!decoded.ok) return decoded;
  const { manifestBytes, code, signature } = decoded.value;
  const fail = (code: BundleError['code'], message: string): OpenResult => ({ ok: false, error: bundleError(code, message) });

  let key: TrustedKey | undefined;
  if (signature === null) {
    if (opts.allowUnsigned !== true) return fail('UNSIGNED', 'the bundle has no signature and unsigned bundles are not allowed');
  } else {
    key = trust.keyFor(signature.keyId);
    if (key === undefined) return fail('UNKNOWN_KEY', `the bundle is signed by key ${signature.keyId}, which is not in the trust store`);
    if (key.revoked) return fail('REVOKED_KEY', `the bundle is signed by key ${signature.keyId}, which has been revoked`);
    if (!verifySignature(manifestBytes, signature, key.publicKey)) {
      return fail('BAD_SIGNATURE', `the signature does not verify with trusted key ${signature.keyId} over the manifest bytes`);
    }
  }

  const json = parseJsonBytesStrict(manifestBytes);
  if (!json.ok) return fail('BAD_MANIFEST', `the manifest is not strict JSON: ${json.error}`);
  const parsed = v.safeParse(ManifestSchema, json.value);
  if (!parsed.success) return fail('BAD_MANIFEST', `invalid manifest: ${formatManifestIssues(parsed.issues).join('; ')}`);
  const manifest = parsed.output;

  if (key !== undefined && signature !== null) {
    const vendor = manifest.name.slice(0, manifest.name.indexOf('/'));
    if (!key.vendors.includes(vendor)) {
      return fail('VENDOR_NOT_ALLOWED', `key ${signature.keyId} may sign for ${key.vendors.join(', ') || 'no vendor'}, not for vendor "${vendor}" of ${manifest.name}`);
    }
  }

  if (code.byteLength !== manifest.code.bytes) {
    return fail('CODE_MISMATCH', `the code is ${code.byteLength} bytes but the manifest says ${manifest.code.bytes}`);
  }
  const sha256 = createHash('sha256').update(code).digest('hex');
  if (sha256 !== manifest.code.sha256) {
    return fail('CODE_MISMATCH', `the code's SHA-256 is ${sha256} but the manifest says ${manifest.code.sha256}`);
  }
  return { ok: true, manifest, code, keyId: signature?.keyId ?? null, signed: signature !== null };
}
