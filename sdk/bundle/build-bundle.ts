/** Builds a signed bundle from a manifest draft, the code and a vendor's private key. */
import { createHash } from 'node:crypto';
import * as v from 'valibot';
import { encodeBundle } from './bundle-format.ts';
import { formatManifestIssues, ManifestSchema, type ManifestDraft } from './manifest.ts';
import { signManifest } from './signing.ts';

/**
 * Thrown by {@link createSignedBundle} when the manifest is invalid; `issues` name the fields.
 * @example
 * try { createSignedBundle(input); } catch (e) { if (e instanceof ManifestError) console.error(e.issues); }
 */
export class ManifestError extends Error {
  readonly code = 'BAD_MANIFEST';
  readonly issues: string[];
  constructor(issues: string[]) {
    super(`invalid manifest:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ManifestError';
    this.issues = issues;
  }
}

/**
 * JSON with object keys sorted at every depth and no whitespace, so the same manifest always
 * serializes to the same bytes.
 * @example
 * canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }); // '{"a":[{"c":3,"d":2}],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`not representable in JSON: ${typeof value}`);
  return text;
}

/**
 * What {@link createSignedBundle} needs: the manifest without `code`, the code bytes (esbuild
 * output), and the vendor's PKCS#8 PEM private key.
 * @example
 * const input: SignedBundleInput = { manifest: draft, code, privateKey: keys.privateKey };
 */
export interface SignedBundleInput {
  manifest: ManifestDraft;
  code: Uint8Array;
  privateKey: string;
}

/**
 * Fills in the code's SHA-256 and length, validates the manifest (defaults applied, so the signed
 * bytes say everything), serializes it with sorted keys, signs it, and returns the bundle file.
 * Throws {@link ManifestError} for an invalid manifest.
 * @example
 * const file = createSignedBundle({ manifest: draft, code: await readFile('dist/agent.js'), privateKey });
 * await writeFile('greylist-1.0.0.sluice', file);
 */
export function createSignedBundle(input: SignedBundleInput): Uint8Array {
  const code = {
    sha256: createHash('sha256').update(input.code).digest('hex'),
    bytes: input.code.byteLength,
  };
  const parsed = v.safeParse(ManifestSchema, { ...input.manifest, code });
  if (!parsed.success) throw new ManifestError(formatManifestIssues(parsed.issues));
  const manifestBytes = new TextEncoder().encode(canonicalJson(parsed.output));
  return encodeBundle({ manifestBytes, code: input.code, signature: signManifest(manifestBytes, input.privateKey) });
}
