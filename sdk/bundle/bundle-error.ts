/** The one error shape every bundle check returns, with a stable code per failure. */

/**
 * What went wrong with a bundle. Container codes come from decoding; the rest from opening, in the
 * order the checks run.
 * @example
 * if (error.code === 'VENDOR_NOT_ALLOWED') console.error(error.message);
 */
export type BundleErrorCode =
  | 'BAD_MAGIC'
  | 'BAD_FRAMING'
  | 'TRUNCATED'
  | 'TRAILING_BYTES'
  | 'OVERSIZE'
  | 'UNSIGNED'
  | 'UNKNOWN_KEY'
  | 'REVOKED_KEY'
  | 'BAD_SIGNATURE'
  | 'BAD_MANIFEST'
  | 'VENDOR_NOT_ALLOWED'
  | 'CODE_MISMATCH';

/**
 * A refused bundle: a stable code and a message that says exactly what is wrong.
 * @example
 * const error: BundleError = { code: 'UNSIGNED', message: 'the bundle has no signature' };
 */
export interface BundleError {
  code: BundleErrorCode;
  message: string;
}

/**
 * Builds a {@link BundleError}.
 * @example
 * return { ok: false, error: bundleError('TRUNCATED', 'code section ends after 12 of 40 bytes') };
 */
export function bundleError(code: BundleErrorCode, message: string): BundleError {
  return { code, message };
}
