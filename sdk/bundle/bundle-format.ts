/** The bundle container: exact bytes of the signed manifest, the code and the signature, framed unambiguously. */
import * as v from 'valibot';
import { bundleError, type BundleError } from './bundle-error.ts';
import { parseJsonBytesStrict } from './json-strict.ts';

/**
 * The first line of every bundle file.
 * @example
 * new TextDecoder().decode(bytes.subarray(0, BUNDLE_MAGIC.length)) === BUNDLE_MAGIC;
 */
export const BUNDLE_MAGIC = 'SLUICE-AGENT-BUNDLE 1\n';

/**
 * Largest bundle file accepted (17 MiB: 16 MiB of code plus the manifest and the signature).
 * @example
 * if (file.byteLength > MAX_BUNDLE_BYTES) refuse();
 */
export const MAX_BUNDLE_BYTES = 17 * 1024 * 1024;
/** Largest manifest section. @example manifestBytes.byteLength <= MAX_MANIFEST_BYTES; */
export const MAX_MANIFEST_BYTES = 64 * 1024;
/** Largest signature section. @example sigBytes.byteLength <= MAX_SIGNATURE_BYTES; */
export const MAX_SIGNATURE_BYTES = 1024;

/**
 * The signature block: which trusted key to look up (a hint only) and the Ed25519 signature.
 * @example
 * v.parse(BundleSignatureSchema, { keyId: 'Hk3…', sig: 'base64…==' });
 */
export const BundleSignatureSchema = v.strictObject({
  keyId: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{22}$/, 'Invalid keyId: expected 22 base64url characters')),
  sig: v.pipe(v.string(), v.regex(/^[A-Za-z0-9+/]{86}==$/, 'Invalid sig: expected the base64 of 64 bytes')),
});

/**
 * A signature block.
 * @example
 * const s: BundleSignature = signManifest(manifestBytes, privateKey);
 */
export type BundleSignature = v.InferOutput<typeof BundleSignatureSchema>;

/**
 * The three sections of a bundle. `signature` is null for an unsigned bundle.
 * @example
 * encodeBundle({ manifestBytes, code, signature: null });
 */
export interface BundleParts {
  manifestBytes: Uint8Array;
  code: Uint8Array;
  signature: BundleSignature | null;
}

const SECTIONS = [
  ['manifest', MAX_MANIFEST_BYTES],
  ['code', MAX_BUNDLE_BYTES],
  ['signature', MAX_SIGNATURE_BYTES],
] as const;
const encoder = new TextEncoder();

/**
 * Serializes a bundle: the magic line, then for the manifest, the code and the signature JSON in that
 * order, the section's length in decimal ASCII (no sign, no leading zeros), `\n`, and its bytes. An
 * unsigned bundle has a signature section of length 0. Throws a RangeError past the size caps.
 * @example
 * const file = encodeBundle({ manifestBytes, code, signature });
 */
export function encodeBundle(parts: BundleParts): Uint8Array {
  const sig = parts.signature === null ? new Uint8Array(0) : encoder.encode(JSON.stringify({ keyId: parts.signature.keyId, sig: parts.signature.sig }));
  const sections = [parts.manifestBytes, parts.code, sig];
  const chunks: Uint8Array[] = [encoder.encode(BUNDLE_MAGIC)];
  sections.forEach((bytes, k) => {
    const [what, max] = SECTIONS[k]!;
    if (bytes.byteLength > max) throw new RangeError(`${what} section is ${bytes.byteLength} bytes, more than ${max}`);
    chunks.push(encoder.encode(`${bytes.byteLength}\n`), bytes);
  });
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  if (total > MAX_BUNDLE_BYTES) throw new RangeError(`bundle is ${total} bytes, more than ${MAX_BUNDLE_BYTES}`);
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * The outcome of {@link decodeBundle}.
 * @example
 * const r: DecodeResult = decodeBundle(bytes);
 */
export type DecodeResult = { ok: true; value: BundleParts } | { ok: false; error: BundleError };

/**
 * Splits a bundle file into its sections without interpreting the manifest or the code. The sections
 * are copies, so later changes to `bytes` cannot reach them. The signature block is parsed strictly.
 * @example
 * const r = decodeBundle(await readFile(path));
 * if (!r.ok) console.error(r.error.code, r.error.message);
 */
export function decodeBundle(bytes: Uint8Array): DecodeResult {
  const fail = (code: BundleError['code'], message: string): DecodeResult => ({ ok: false, error: bundleError(code, message) });
  if (bytes.byteLength > MAX_BUNDLE_BYTES) return fail('OVERSIZE', `bundle is ${bytes.byteLength} bytes, more than ${MAX_BUNDLE_BYTES}`);
  const magic = encoder.encode(BUNDLE_MAGIC);
  for (let i = 0; i < magic.length; i++) {
    if (i >= bytes.byteLength) return fail('TRUNCATED', `bundle ends inside the magic line after ${bytes.byteLength} bytes`);
    if (bytes[i] !== magic[i]) return fail('BAD_MAGIC', `not a Sluice agent bundle: the file must start with "SLUICE-AGENT-BUNDLE 1\\n"`);
  }
  let at = magic.length;
  const sections: Uint8Array[] = [];
  for (const [what, max] of SECTIONS) {
    const start = at;
    let length = 0;
    while (at < bytes.byteLength && bytes[at] !== 0x0a) {
      const d = bytes[at]! - 0x30;
      if (d < 0 || d > 9) return fail('BAD_FRAMING', `${what} length at offset ${start} is not a decimal number`);
      if (at > start && length === 0) return fail('BAD_FRAMING', `${what} length at offset ${start} has a leading zero`);
      length = length * 10 + d;
      if (length > max) return fail('OVERSIZE', `${what} section is longer than ${max} bytes`);
      at++;
    }
    if (at >= bytes.byteLength) return fail('TRUNCATED', `bundle ends inside the ${what} length`);
    if (at === start) return fail('BAD_FRAMING', `${what} length at offset ${start} is empty`);
    at++;
    if (at + length > bytes.byteLength) {
      return fail('TRUNCATED', `${what} section ends after ${bytes.byteLength - at} of ${length} bytes`);
    }
    sections.push(bytes.slice(at, at + length));
    at += length;
  }
  if (at !== bytes.byteLength) return fail('TRAILING_BYTES', `${bytes.byteLength - at} bytes follow the signature section`);
  const [manifestBytes, code, sig] = sections as [Uint8Array, Uint8Array, Uint8Array];
  if (manifestBytes.byteLength === 0) return fail('BAD_FRAMING', 'manifest section is empty');
  if (sig.byteLength === 0) return { ok: true, value: { manifestBytes, code, signature: null } };
  const json = parseJsonBytesStrict(sig);
  if (!json.ok) return fail('BAD_SIGNATURE', `signature section is not strict JSON: ${json.error}`);
  const parsed = v.safeParse(BundleSignatureSchema, json.value);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    return fail('BAD_SIGNATURE', `signature section: ${v.getDotPath(issue) ?? '(root)'}: ${issue.message}`);
  }
  return { ok: true, value: { manifestBytes, code, signature: parsed.output } };
}
