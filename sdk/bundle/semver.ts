/** Strict SemVer 2.0.0: a linear-time parser, §11 precedence, and the small range language manifests use. */

/**
 * A parsed version. Numeric prerelease identifiers are numbers, the others strings.
 * @example
 * parseSemver('1.2.3-rc.1+b7'); // { major: 1, minor: 2, patch: 3, prerelease: ['rc', 1], build: ['b7'] }
 */
export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  prerelease: (string | number)[];
  build: string[];
}

const MAX_LENGTH = 256;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isIdentChar(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45;
}

/** A numeric identifier: digits, no leading zero, a safe integer. */
function numeric(part: string): number | null {
  if (part.length === 0 || part.length > 16) return null;
  for (let i = 0; i < part.length; i++) if (!isDigit(part.charCodeAt(i))) return null;
  if (part.length > 1 && part.charCodeAt(0) === 48) return null;
  const n = Number(part);
  return Number.isSafeInteger(n) ? n : null;
}

function identifiers(text: string): string[] | null {
  const parts = text.split('.');
  for (const part of parts) {
    if (part.length === 0) return null;
    for (let i = 0; i < part.length; i++) if (!isIdentChar(part.charCodeAt(i))) return null;
  }
  return parts;
}

/**
 * Parses `MAJOR.MINOR.PATCH[-prerelease][+build]` exactly as SemVer 2.0.0 defines it (no `v` prefix,
 * no leading zeros, no whitespace); returns null for anything else.
 * @example
 * parseSemver('01.0.0'); // null
 */
export function parseSemver(text: string): SemVer | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_LENGTH) return null;
  const plus = text.indexOf('+');
  const main = plus === -1 ? text : text.slice(0, plus);
  const build = plus === -1 ? [] : identifiers(text.slice(plus + 1));
  if (build === null) return null;
  const dash = main.indexOf('-');
  const core = dash === -1 ? main : main.slice(0, dash);
  const pre = dash === -1 ? [] : identifiers(main.slice(dash + 1));
  if (pre === null) return null;
  const nums = core.split('.');
  if (nums.length !== 3) return null;
  const [major, minor, patch] = nums.map(numeric);
  if (major == null || minor == null || patch == null) return null;
  const prerelease: (string | number)[] = [];
  for (const id of pre) {
    let allDigits = true;
    for (let i = 0; i < id.length; i++) if (!isDigit(id.charCodeAt(i))) allDigits = false;
    if (!allDigits) prerelease.push(id);
    else {
      const n = numeric(id);
      if (n === null) return null;
      prerelease.push(n);
    }
  }
  return { major, minor, patch, prerelease, build };
}

/**
 * True when `text` is a strict SemVer 2.0.0 version.
 * @example
 * isSemver('1.0.0-alpha.1'); // true
 */
export function isSemver(text: string): boolean {
  return parseSemver(text) !== null;
}

function cmp(a: number | string, b: number | string): -1 | 0 | 1 {
  // §11.4.3: numeric identifiers always have lower precedence than alphanumeric ones.
  if (typeof a === 'number' && typeof b === 'string') return -1;
  if (typeof a === 'string' && typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareParsed(a: SemVer, b: SemVer): -1 | 0 | 1 {
  const core = cmp(a.major, b.major) || cmp(a.minor, b.minor) || cmp(a.patch, b.patch);
  if (core !== 0) return core;
  // §11.3: a prerelease version has lower precedence than the normal version.
  if (a.prerelease.length === 0 || b.prerelease.length === 0) {
    return a.prerelease.length === b.prerelease.length ? 0 : a.prerelease.length === 0 ? 1 : -1;
  }
  const n = Math.min(a.prerelease.length, b.prerelease.length);
  for (let i = 0; i < n; i++) {
    const c = cmp(a.prerelease[i]!, b.prerelease[i]!);
    if (c !== 0) return c;
  }
  return cmp(a.prerelease.length, b.prerelease.length);
}

/**
 * SemVer §11 precedence: -1, 0 or 1. Build metadata is ignored. Throws a RangeError on an invalid version.
 * @example
 * compareSemver('1.0.0-beta.11', '1.0.0-rc.1'); // -1
 */
export function compareSemver(a: string, b: string): -1 | 0 | 1 {
  const pa = parseSemver(a);
  const pb = parseSemver(b);
  if (pa === null) throw new RangeError(`not a semantic version: ${JSON.stringify(a)}`);
  if (pb === null) throw new RangeError(`not a semantic version: ${JSON.stringify(b)}`);
  return compareParsed(pa, pb);
}

function parseRange(range: string): { op: '^' | '~' | '>=' | '='; base: SemVer } | null {
  if (typeof range !== 'string') return null;
  const op = range.startsWith('>=') ? '>=' : range.startsWith('^') ? '^' : range.startsWith('~') ? '~' : '=';
  const base = parseSemver(range.slice(op === '=' ? 0 : op.length));
  return base === null ? null : { op, base };
}

/**
 * True when `range` is one of `^x.y.z`, `~x.y.z`, `>=x.y.z` or an exact version.
 * @example
 * isSemverRange('^0.1.0'); // true
 */
export function isSemverRange(range: string): boolean {
  return parseRange(range) !== null;
}

/**
 * Whether `version` is in `range`, with npm's meaning of `^` (the left-most non-zero part is fixed) and
 * `~` (major and minor fixed). As in npm, a prerelease version satisfies a range only when the range's
 * own version is a prerelease of the same `x.y.z`. False for an invalid version or range.
 * @example
 * satisfies('0.1.4', '^0.1.0'); // true
 * satisfies('0.2.0', '^0.1.0'); // false
 */
export function satisfies(version: string, range: string): boolean {
  const v = parseSemver(version);
  const r = parseRange(range);
  if (v === null || r === null) return false;
  const b = r.base;
  const sameCore = v.major === b.major && v.minor === b.minor && v.patch === b.patch;
  if (v.prerelease.length > 0 && !(b.prerelease.length > 0 && sameCore)) return false;
  const c = compareParsed(v, b);
  if (r.op === '=') return c === 0;
  if (c < 0) return false;
  if (r.op === '>=') return true;
  if (r.op === '~') return v.major === b.major && v.minor === b.minor;
  if (b.major > 0) return v.major === b.major;
  if (b.minor > 0) return v.major === 0 && v.minor === b.minor;
  return v.major === 0 && v.minor === 0 && v.patch === b.patch;
}
