// Parses and validates MAIL FROM / RCPT TO paths (RFC 5321 §4.1.2, §4.5.3.1; RFC 6531) as pure functions.
import { isIPv4, isIPv6 } from 'node:net';

export type AddressErrorKind =
  | 'syntax'
  | 'needs-smtputf8'
  | 'invalid-characters'
  | 'too-long'
  | 'null-not-allowed';

export type AddressError = { kind: AddressErrorKind; message: string };

export type PathOptions = { smtputf8: boolean; allowNull: boolean; allowPostmaster: boolean };

export type ParsedPath = {
  ok: true;
  /** `localPart@domain` as the client wrote it, source route removed; '' for `<>`. */
  address: string;
  /** As written, including the quotes of a quoted-string. */
  localPart: string;
  /** As written (not normalized); null for `<>` and `<postmaster>`. */
  domain: string | null;
  /** What follows `>`: the ESMTP parameters, leading spaces removed. */
  rest: string;
};

export type PathResult = ParsedPath | { ok: false; error: AddressError };

export const MAX_LOCAL_PART_OCTETS = 64;
export const MAX_DOMAIN_OCTETS = 255;
export const MAX_LABEL_OCTETS = 63;
/** Counted from `<` to `>` inclusive, source route included (RFC 5321 §4.5.3.1.3 "including the punctuation"). */
export const MAX_PATH_OCTETS = 256;

const SP = 0x20;
const LETTER_MARK_NUMBER = /^[\p{L}\p{M}\p{N}]$/u;
const SEPARATOR = /^\p{Z}$/u;

function fail(kind: AddressErrorKind, message: string): { ok: false; error: AddressError } {
  return { ok: false, error: { kind, message } };
}

function hex(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Printable ASCII is shown as itself; everything else as its U+ code point in hex, so messages stay ASCII and one line. */
function describeChar(cp: number): string {
  return cp > SP && cp < 0x7f ? `"${String.fromCharCode(cp)}"` : hex(cp);
}

/**
 * Characters that render as nothing or reorder text. Beyond the four named by nodemailer (ZWSP,
 * WORD JOINER, BOM, SOFT HYPHEN) this covers direction marks and overrides, invisible operators and
 * the line/paragraph separators, none of which belong in an envelope. ZWNJ/ZWJ (U+200C/D) stay
 * allowed: some scripts need them.
 */
function isInvisible(cp: number): boolean {
  return (
    cp === 0x00ad ||
    cp === 0x061c ||
    cp === 0x180e ||
    cp === 0x200b ||
    cp === 0x200e ||
    cp === 0x200f ||
    (cp >= 0x2028 && cp <= 0x202e) ||
    (cp >= 0x2060 && cp <= 0x2064) ||
    (cp >= 0x2066 && cp <= 0x2069) ||
    cp === 0xfeff ||
    (cp >= 0xfff9 && cp <= 0xfffb)
  );
}

/**
 * Finds the first character that must never appear in an SMTP command argument: C0 and C1
 * controls, DEL, lone surrogates, noncharacters and invisible characters. Returns a message
 * naming it and its offset, or null when the string is clean.
 */
export function findInvalidCharacter(s: string): string | null {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < SP || c === 0x7f || (c >= 0x80 && c <= 0x9f)) {
      return `control character ${hex(c)} at offset ${i}`;
    }
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return `unpaired surrogate ${hex(c)} at offset ${i}`;
      const cp = (c - 0xd800) * 0x400 + (next - 0xdc00) + 0x10000;
      if ((cp & 0xfffe) === 0xfffe) return `noncharacter ${hex(cp)} at offset ${i}`;
      i++;
      continue;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return `unpaired surrogate ${hex(c)} at offset ${i}`;
    if (c >= 0xfdd0 && c <= 0xfdef) return `noncharacter ${hex(c)} at offset ${i}`;
    if (c === 0xfffe || c === 0xffff) return `noncharacter ${hex(c)} at offset ${i}`;
    if (isInvisible(c)) return `invisible character ${hex(c)} at offset ${i}`;
  }
  return null;
}

/** UTF-8 length of a string without allocating. Lone surrogates count 3, as TextEncoder's U+FFFD would. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function hasNonAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return true;
  return false;
}

/** RFC 5321 atext (RFC 5322 §3.2.3), ASCII part. */
function isAsciiAtext(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    (c >= 0x23 && c <= 0x27) || // # $ % & '
    c === 0x21 || // !
    c === 0x2a || // *
    c === 0x2b || // +
    c === 0x2d || // -
    c === 0x2f || // /
    c === 0x3d || // =
    c === 0x3f || // ?
    (c >= 0x5e && c <= 0x60) || // ^ _ `
    (c >= 0x7b && c <= 0x7e) // { | } ~
  );
}

/** atext, '.' and (RFC 6531) non-ASCII other than space separators. */
function isDotStringChar(c: number): boolean {
  if (c < 0x80) return c === 0x2e || isAsciiAtext(c);
  return !SEPARATOR.test(String.fromCharCode(c));
}

function localPartSyntaxError(local: string): string | null {
  if (local.length === 0) return 'empty local part';
  if (local.charCodeAt(0) === 0x22) return null; // quoted-string, already scanned
  if (local.startsWith('.')) return 'local part starts with "."';
  if (local.endsWith('.')) return 'local part ends with "."';
  if (local.includes('..')) return 'local part contains ".."';
  return null;
}

function isLdh(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d
  );
}

function literalSyntaxError(literal: string): string | null {
  if (!literal.endsWith(']')) return 'address literal is missing "]"';
  const body = literal.slice(1, -1);
  if (/^ipv6:/i.test(body)) {
    const addr = body.slice(5);
    // isIPv6 also accepts zone ids ("%eth0"), which have no meaning in an address literal.
    if (/^[0-9A-Fa-f:.]+$/.test(addr) && isIPv6(addr)) return null;
    return 'invalid IPv6 address literal';
  }
  if (body.includes(':')) return 'unsupported address literal tag (only "IPv6:" is defined)';
  // Node's isIPv4 (same on Bun and Deno) rejects leading zeros, which some resolvers read as octal.
  if (isIPv4(body)) return null;
  return 'invalid IPv4 address literal';
}

/** Grammar check of a domain name or address literal, with U-labels allowed. Returns a message or null. */
function domainSyntaxError(domain: string): string | null {
  if (domain.length === 0) return 'empty domain';
  if (domain.charCodeAt(0) === 0x5b) return literalSyntaxError(domain);
  for (const label of domain.split('.')) {
    if (label.length === 0) return 'empty label in domain';
    for (const ch of label) {
      const c = ch.codePointAt(0) ?? 0;
      if (c < 0x80 ? !isLdh(c) : !LETTER_MARK_NUMBER.test(ch)) {
        return `invalid character ${describeChar(c)} in domain`;
      }
    }
    if (label.startsWith('-') || label.endsWith('-')) return 'domain label starts or ends with "-"';
  }
  return null;
}

function domainLengthError(domain: string): string | null {
  const total = utf8Length(domain);
  if (total > MAX_DOMAIN_OCTETS) {
    return `domain is ${total} octets, longer than ${MAX_DOMAIN_OCTETS}`;
  }
  if (domain.charCodeAt(0) === 0x5b) return null;
  for (const label of domain.split('.')) {
    const n = utf8Length(label);
    if (n > MAX_LABEL_OCTETS) return `domain label is ${n} octets, longer than ${MAX_LABEL_OCTETS}`;
  }
  return null;
}

/**
 * Validates a domain name or address literal as it may appear after "@" (or in EHLO). U-labels
 * need `smtputf8`; their length limits are counted in UTF-8 octets, not in A-label form.
 */
export function validateDomain(domain: string, smtputf8: boolean): AddressError | null {
  const bad = findInvalidCharacter(domain);
  if (bad !== null) return { kind: 'invalid-characters', message: bad };
  const syntax = domainSyntaxError(domain);
  if (syntax !== null) return { kind: 'syntax', message: syntax };
  if (!smtputf8 && hasNonAscii(domain)) {
    return { kind: 'needs-smtputf8', message: 'non-ASCII domain requires SMTPUTF8' };
  }
  const length = domainLengthError(domain);
  if (length !== null) return { kind: 'too-long', message: length };
  return null;
}

/** Parameters after the path: '' at end of text, else they must be separated by at least one space. */
function restAfter(text: string, i: number): string | null {
  if (i >= text.length) return '';
  if (text.charCodeAt(i) !== SP) return null;
  while (text.charCodeAt(i) === SP) i++;
  return text.slice(i);
}

/**
 * Parses what follows `MAIL FROM:` or `RCPT TO:`: spaces, then `<path>`, then optional parameters.
 * A source route (`<@a,@b:user@d>`) is checked and dropped. Checks run in this order, first
 * failure wins: invalid characters anywhere in `text`, syntax, SMTPUTF8 need, lengths.
 */
export function parsePath(text: string, opts: PathOptions): PathResult {
  const bad = findInvalidCharacter(text);
  if (bad !== null) return fail('invalid-characters', bad);

  let i = 0;
  while (text.charCodeAt(i) === SP) i++;
  if (text.charCodeAt(i) !== 0x3c) return fail('syntax', 'path must be enclosed in "<" and ">"');
  const start = i;
  i++;

  if (text.charCodeAt(i) === 0x3e) {
    const rest = restAfter(text, i + 1);
    if (rest === null) return fail('syntax', 'expected a space after ">"');
    if (!opts.allowNull) return fail('null-not-allowed', 'null path <> is not allowed here');
    return { ok: true, address: '', localPart: '', domain: null, rest };
  }

  const route: string[] = [];
  if (text.charCodeAt(i) === 0x40) {
    for (;;) {
      const from = ++i;
      while (i < text.length && !',:>'.includes(text.charAt(i))) i++;
      route.push(text.slice(from, i));
      const c = text.charAt(i);
      if (c === ':') {
        i++;
        break;
      }
      if (c === ',' && text.charAt(i + 1) === '@') {
        i++;
        continue;
      }
      if (c === ',') return fail('syntax', 'expected "@" after "," in source route');
      return fail('syntax', 'source route must end with ":" before the mailbox');
    }
  }

  const localStart = i;
  if (text.charCodeAt(i) === 0x22) {
    for (i++; ; i++) {
      if (i >= text.length) return fail('syntax', 'unterminated quoted local part');
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c === 0x5c) {
        const next = text.charCodeAt(i + 1);
        if (!(next >= SP && next <= 0x7e)) {
          return fail('syntax', '"\\" in quoted local part must be followed by printable ASCII');
        }
        i++;
      }
    }
    i++;
  } else {
    while (i < text.length && isDotStringChar(text.charCodeAt(i))) i++;
  }
  const localPart = text.slice(localStart, i);

  if (text.charCodeAt(i) === 0x3e && route.length === 0 && localPart.toLowerCase() === 'postmaster') {
    if (!opts.allowPostmaster) {
      return fail('syntax', 'address has no domain (bare <postmaster> is only accepted as a recipient)');
    }
    const rest = restAfter(text, i + 1);
    if (rest === null) return fail('syntax', 'expected a space after ">"');
    return { ok: true, address: 'postmaster', localPart: 'postmaster', domain: null, rest };
  }
  if (i >= text.length) return fail('syntax', 'path is missing the closing ">"');
  if (text.charCodeAt(i) !== 0x40) {
    if (text.charCodeAt(i) === 0x3e) return fail('syntax', 'address has no "@domain"');
    const cp = text.codePointAt(i) ?? 0;
    return fail('syntax', `invalid character ${describeChar(cp)} in local part`);
  }
  i++;

  const domainStart = i;
  if (text.charCodeAt(i) === 0x5b) {
    while (i < text.length && text.charCodeAt(i) !== 0x5d && text.charCodeAt(i) !== 0x3e) i++;
    if (text.charCodeAt(i) === 0x5d) i++;
  } else {
    while (i < text.length && text.charCodeAt(i) !== 0x3e) i++;
  }
  const domain = text.slice(domainStart, i);
  if (i >= text.length) return fail('syntax', 'path is missing the closing ">"');
  if (text.charCodeAt(i) !== 0x3e) return fail('syntax', 'unexpected text after address literal');
  const end = i + 1;
  const rest = restAfter(text, end);
  if (rest === null) return fail('syntax', 'expected a space after ">"');

  for (const hop of route) {
    if (hop.charCodeAt(0) === 0x5b) return fail('syntax', 'address literal in source route');
    const e = domainSyntaxError(hop);
    if (e !== null) return fail('syntax', `source route: ${e}`);
  }
  const localError = localPartSyntaxError(localPart);
  if (localError !== null) return fail('syntax', localError);
  const domainError = domainSyntaxError(domain);
  if (domainError !== null) return fail('syntax', domainError);

  const path = text.slice(start, end);
  if (!opts.smtputf8 && hasNonAscii(path)) {
    return fail('needs-smtputf8', 'non-ASCII address requires SMTPUTF8');
  }

  const localOctets = utf8Length(localPart);
  if (localOctets > MAX_LOCAL_PART_OCTETS) {
    return fail('too-long', `local part is ${localOctets} octets, longer than ${MAX_LOCAL_PART_OCTETS}`);
  }
  for (const d of [...route, domain]) {
    const e = domainLengthError(d);
    if (e !== null) return fail('too-long', e);
  }
  const pathOctets = utf8Length(path);
  if (pathOctets > MAX_PATH_OCTETS) {
    return fail('too-long', `path is ${pathOctets} octets, longer than ${MAX_PATH_OCTETS}`);
  }

  return { ok: true, address: `${localPart}@${domain}`, localPart, domain, rest };
}

function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * Canonical form for comparing domains: ASCII letters lowercased, then NFC. Lowercasing runs again
 * after NFC because normalization can produce ASCII (U+212A KELVIN SIGN becomes "K").
 */
export function normalizeDomain(d: string): string {
  const once = lowerAscii(d).normalize('NFC');
  const twice = lowerAscii(once);
  return twice === once ? once : twice.normalize('NFC');
}
