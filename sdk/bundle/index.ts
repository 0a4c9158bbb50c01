/** Agent bundles for vendors and the runtime: manifest, container, keys, signing, building and opening. */
export { AGENT_KINDS, DELIVERY_EVENTS, EVENTS_BY_KIND, RECEIVE_EVENTS, ROUTING_EVENTS, type AgentKind } from './event-names.ts';
export { compareSemver, isSemver, isSemverRange, parseSemver, satisfies, type SemVer } from './semver.ts';
export { MAX_JSON_DEPTH, parseJsonStrict, type JsonResult } from './json-strict.ts';
export {
  formatManifestIssues,
  ManifestSchema,
  MAX_CODE_BYTES,
  MAX_CONFIG_SCHEMA_BYTES,
  VENDOR_PATTERN,
  type Manifest,
  type ManifestDraft,
} from './manifest.ts';
export { bundleError, type BundleError, type BundleErrorCode } from './bundle-error.ts';
export {
  BUNDLE_MAGIC,
  BundleSignatureSchema,
  decodeBundle,
  encodeBundle,
  MAX_BUNDLE_BYTES,
  MAX_MANIFEST_BYTES,
  MAX_SIGNATURE_BYTES,
  type BundleParts,
  type BundleSignature,
  type DecodeResult,
} from './bundle-format.ts';
export {
  generateKeyPair,
  keyIdFor,
  MANIFEST_PAYLOAD_TYPE,
  pae,
  rawPublicKey,
  signManifest,
  signPayload,
  verifySignature,
  type VendorKeyPair,
} from './signing.ts';
export { canonicalJson, createSignedBundle, ManifestError, type SignedBundleInput } from './build-bundle.ts';
export { openBundle, type OpenOptions, type OpenResult, type TrustedKey, type TrustLookup } from './verify-bundle.ts';
