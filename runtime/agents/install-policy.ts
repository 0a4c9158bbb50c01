/** Whether an incoming agent version may replace the installed one: no silent downgrades, no rebuilt versions. */
import { compareSemver } from '../../sdk/bundle/semver.ts';

export interface InstalledVersion {
  version: string;
  /** SHA-256 (hex) of the code, as its signed manifest states. */
  codeSha256: string;
}

export type UpgradeDecision =
  | { ok: true; action: 'install' | 'upgrade' | 'forced-downgrade' | 'noop' }
  | { ok: false; code: 'DOWNGRADE' | 'SAME_VERSION_DIFFERENT_CODE'; message: string };

/**
 * Decides an install over `installed` (undefined when none). A lower version is refused unless
 * `force`; the same version (by SemVer precedence, so build metadata does not count) with other code
 * is always refused, because one version must name one build; the same version and code is a no-op.
 */
export function checkUpgrade(installed: InstalledVersion | undefined, incoming: InstalledVersion, force: boolean): UpgradeDecision {
  if (installed === undefined) return { ok: true, action: 'install' };
  const order = compareSemver(incoming.version, installed.version);
  if (order > 0) return { ok: true, action: 'upgrade' };
  if (order === 0) {
    if (incoming.codeSha256 === installed.codeSha256) return { ok: true, action: 'noop' };
    return {
      ok: false,
      code: 'SAME_VERSION_DIFFERENT_CODE',
      message: `version ${incoming.version} is installed with different code (sha256 ${installed.codeSha256}); publish a new version`,
    };
  }
  if (force) return { ok: true, action: 'forced-downgrade' };
  return {
    ok: false,
    code: 'DOWNGRADE',
    message: `version ${incoming.version} is lower than the installed ${installed.version}; installing it needs force`,
  };
}
