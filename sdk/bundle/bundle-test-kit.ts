/** Shared fixtures for the bundle tests: a valid manifest draft, real vendor keys, and a trust lookup over them. */
import type { ManifestDraft } from './manifest.ts';
import { generateKeyPair, type VendorKeyPair } from './signing.ts';
import type { TrustedKey, TrustLookup } from './verify-bundle.ts';

/**
 * A valid receive-agent manifest draft, with fields replaced by `overrides` (which may be invalid on purpose).
 * @example
 * draftManifest({ memoryMiB: 4096 });
 */
export function draftManifest(overrides: Record<string, unknown> = {}): ManifestDraft {
  return {
    name: 'acme/greylist',
    version: '1.2.0',
    kind: 'receive',
    events: ['onMailFrom', 'onRcptTo'],
    budgets: { onMailFrom: 20, onRcptTo: 50 },
    memoryMiB: 32,
    capabilities: ['log', 'kv'],
    sdk: '^0.1.0',
    ...overrides,
  } as ManifestDraft;
}

/**
 * A small agent module's bytes.
 * @example
 * createSignedBundle({ manifest: draftManifest(), code: agentCode, privateKey });
 */
export const agentCode: Uint8Array = new TextEncoder().encode('export default { onRcptTo: () => ({ verdict: "continue" }) };\n');

/**
 * Fresh key pairs for three roles: a trusted vendor, a vendor trusted for another name, and a stranger.
 * @example
 * const keys = vendorKeys();
 */
export function vendorKeys(): { acme: VendorKeyPair; other: VendorKeyPair; stranger: VendorKeyPair } {
  return { acme: generateKeyPair(), other: generateKeyPair(), stranger: generateKeyPair() };
}

/**
 * A trust lookup over the given key pairs, without a store on disk.
 * @example
 * const trust = trustOf([{ pair: keys.acme, vendors: ['acme'] }]);
 */
export function trustOf(entries: { pair: VendorKeyPair; vendors: string[]; revoked?: boolean }[]): TrustLookup {
  const byId = new Map<string, TrustedKey>();
  for (const e of entries) byId.set(e.pair.keyId, { publicKey: e.pair.publicKey, vendors: e.vendors, revoked: e.revoked ?? false });
  return { keyFor: (id) => byId.get(id) };
}
