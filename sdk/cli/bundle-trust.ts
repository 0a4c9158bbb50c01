/** Opens a bundle for the CLI: trust built from one vendor public key file, or (for `test`) no signature check at all. */
import { readFile } from 'node:fs/promises';
import { decodeBundle, encodeBundle } from '../bundle/bundle-format.ts';
import { parseJsonBytesStrict } from '../bundle/json-strict.ts';
import { keyIdFor, rawPublicKey } from '../bundle/signing.ts';
import { openBundle, type OpenResult, type TrustLookup } from '../bundle/verify-bundle.ts';
import { CommandError } from './cli-io.ts';

/** Reads a `.pub` file (base64 of the raw 32-byte Ed25519 key, as `keygen` writes it). */
export async function readPublicKey(file: string): Promise<string> {
  let text: string;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch (error) {
    throw new CommandError(`--pub ${file}: cannot read it: ${(error as Error).message}`);
  }
  if (rawPublicKey(text) === null) throw new CommandError(`--pub ${file}: not a public key (expected the base64 of 32 raw Ed25519 bytes, as "sluice-agent keygen" writes)`);
  return text;
}

/** The vendor a bundle's manifest names, read without trusting it (to scope a key when no --vendor is given). */
export function claimedVendor(bytes: Uint8Array): string | undefined {
  const decoded = decodeBundle(bytes);
  if (!decoded.ok) return undefined;
  const json = parseJsonBytesStrict(decoded.value.manifestBytes);
  if (!json.ok || json.value === null || typeof json.value !== 'object') return undefined;
  const name = (json.value as { name?: unknown }).name;
  return typeof name === 'string' && name.includes('/') ? name.slice(0, name.indexOf('/')) : undefined;
}

/** A trust lookup holding one key, allowed to sign for `vendors`. */
export function trustOneKey(publicKey: string, vendors: readonly string[]): TrustLookup {
  const keyId = keyIdFor(publicKey);
  return { keyFor: (id) => (id === keyId ? { publicKey, vendors, revoked: false } : undefined) };
}

/**
 * Every check of `openBundle` except the signature: the bundle with its signature section dropped,
 * opened as an unsigned development bundle. For running a bundle's code in `test`, never for trust.
 */
export function openIgnoringSignature(bytes: Uint8Array): OpenResult {
  const decoded = decodeBundle(bytes);
  if (!decoded.ok) return decoded;
  return openBundle(encodeBundle({ ...decoded.value, signature: null }), { keyFor: () => undefined }, { allowUnsigned: true });
}
