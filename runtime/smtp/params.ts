// Parses the ESMTP parameters of MAIL FROM and RCPT TO (RFC 5321 §4.1.2; SIZE, BODY, SMTPUTF8, DSN, AUTH).
import { findInvalidCharacter } from './address.ts';
import { decodeXtext } from './xtext.ts';

export type ParamErrorKind = 'syntax' | 'unknown' | 'duplicate' | 'size-exceeded' | 'unsupported-value';

export type ParamError = { kind: ParamErrorKind; param: string; message: string };

/** What the server advertised in EHLO. `maxSize` is the SIZE limit in octets (Infinity for none). */
export type ParamCaps = {
  maxSize: number;
  smtputf8: boolean;
  chunking: boolean;
  dsn: boolean;
  auth: boolean;
};

export type MailParams = {
  size?: number;
  body?: '7BIT' | '8BITMIME';
  smtputf8: boolean;
  ret?: 'FULL' | 'HDRS';
  /** xtext-decoded. */
  envid?: string;
  /** xtext-decoded mailbox, or '<>'. */
  auth?: string;
};

export type NotifyCondition = 'SUCCESS' | 'FAILURE' | 'DELAY';

export type RcptParams = {
  notify?: 'NEVER' | NotifyCondition[];
  /** `type` as written (e.g. "rfc822"); `address` xtext-decoded. */
  orcpt?: { type: string; address: string };
};

export type MailParamsResult = { ok: true; params: MailParams } | { ok: false; error: ParamError };
export type RcptParamsResult = { ok: true; params: RcptParams } | { ok: false; error: ParamError };

export const MAX_SIZE_DIGITS = 20;
export const MAX_ENVID_CHARS = 100;
export const MAX_ORCPT_CHARS = 500;

type Param = { keyword: string; value: string | null };
type Failure = { ok: false; error: ParamError };

function fail(kind: ParamErrorKind, param: string, message: string): Failure {
  return { ok: false, error: { kind, param, message } };
}

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
function isKeyword(s: string): boolean {
  if (s.length === 0 || !isAlnum(s.charCodeAt(0))) return false;
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isAlnum(c) && c !== 0x2d) return false;
  }
  return true;
}

/** esmtp-value = 1*(%d33-60 / %d62-126) */
function isValue(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126 || c === 0x3d) return false;
  }
  return true;
}

/** A printable, bounded stand-in for a keyword that failed to parse, safe to put in a reply. */
function sanitize(s: string): string {
  let out = '';
  for (let i = 0; i < s.length && out.length < 32; i++) {
    const c = s.charCodeAt(i);
    out += c >= 33 && c <= 126 ? s.charAt(i) : '?';
  }
  return out;
}

/** Splits on runs of spaces; leading and trailing spaces are ignored. */
function tokens(rest: string): string[] {
  return rest.split(' ').filter((t) => t.length > 0);
}

/**
 * Checks one token's shape, then whether its extension is offered, then duplicates. Keywords come
 * back uppercased. Called token by token so the leftmost problem is the one reported.
 */
function readParam(token: string, seen: Set<string>, offered: (keyword: string) => boolean): Param | Failure {
  const eq = token.indexOf('=');
  const rawKeyword = eq < 0 ? token : token.slice(0, eq);
  if (!isKeyword(rawKeyword)) {
    const shown = sanitize(rawKeyword);
    return fail('syntax', shown, `malformed parameter keyword "${shown}"`);
  }
  const keyword = rawKeyword.toUpperCase();
  if (!offered(keyword)) return fail('unknown', keyword, `unrecognized parameter ${keyword}`);
  if (seen.has(keyword)) return fail('duplicate', keyword, `${keyword} given more than once`);
  seen.add(keyword);
  const value = eq < 0 ? null : token.slice(eq + 1);
  if (value !== null && !isValue(value)) {
    return fail('syntax', keyword, `${keyword} value must be one or more characters 33-126 other than "="`);
  }
  return { keyword, value };
}

/** xtext-decodes and rejects controls and invisibles (which would otherwise reach headers and logs). */
function decodeClean(keyword: string, value: string): string | Failure {
  const decoded = decodeXtext(value);
  if (decoded === null) return fail('syntax', keyword, `${keyword} value is not valid xtext`);
  const bad = findInvalidCharacter(decoded);
  if (bad !== null) return fail('syntax', keyword, `${keyword} value contains ${bad} after xtext decoding`);
  return decoded;
}

function isPrintableAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function parseSize(value: string, maxSize: number): number | Failure {
  if (value.length > MAX_SIZE_DIGITS || !/^[0-9]+$/.test(value)) {
    return fail('syntax', 'SIZE', `SIZE must be 1 to ${MAX_SIZE_DIGITS} decimal digits`);
  }
  const size = Number(value);
  // Above 2^53 the number is no longer exact; no real limit is that large, so treat it as too big.
  if (!Number.isSafeInteger(size) || size > maxSize) {
    return fail('size-exceeded', 'SIZE', `SIZE ${value} exceeds the maximum message size of ${maxSize}`);
  }
  return size;
}

const MAIL_KEYWORDS = ['SIZE', 'BODY', 'SMTPUTF8', 'RET', 'ENVID', 'AUTH'];

function mailKeywordOffered(caps: ParamCaps): (keyword: string) => boolean {
  return (keyword) => {
    if (!MAIL_KEYWORDS.includes(keyword)) return false;
    if (keyword === 'SMTPUTF8') return caps.smtputf8;
    if (keyword === 'RET' || keyword === 'ENVID') return caps.dsn;
    if (keyword === 'AUTH') return caps.auth;
    return true;
  };
}

/**
 * Parses the parameters after a MAIL FROM path. Parameters whose extension is not offered in
 * `caps` are 'unknown', exactly like keywords nobody defined. SIZE and BODY are always offered.
 */
export function parseMailParams(rest: string, caps: ParamCaps): MailParamsResult {
  const offered = mailKeywordOffered(caps);
  const seen = new Set<string>();
  const params: MailParams = { smtputf8: false };
  for (const token of tokens(rest)) {
    const param = readParam(token, seen, offered);
    if ('ok' in param) return param;
    const { keyword, value } = param;
    if (keyword === 'SMTPUTF8') {
      if (value !== null) return fail('syntax', keyword, 'SMTPUTF8 takes no value');
      params.smtputf8 = true;
      continue;
    }
    if (value === null) return fail('syntax', keyword, `${keyword} requires a value`);
    switch (keyword) {
      case 'SIZE': {
        const size = parseSize(value, caps.maxSize);
        if (typeof size !== 'number') return size;
        params.size = size;
        break;
      }
      case 'BODY': {
        const body = value.toUpperCase();
        if (body === '7BIT' || body === '8BITMIME') params.body = body;
        else if (body === 'BINARYMIME') {
          return fail('unsupported-value', keyword, 'BODY=BINARYMIME is not supported');
        } else return fail('syntax', keyword, 'BODY must be 7BIT or 8BITMIME');
        break;
      }
      case 'RET': {
        const ret = value.toUpperCase();
        if (ret !== 'FULL' && ret !== 'HDRS') return fail('syntax', keyword, 'RET must be FULL or HDRS');
        params.ret = ret;
        break;
      }
      case 'ENVID': {
        const envid = decodeXtext(value);
        if (envid === null) return fail('syntax', keyword, 'ENVID value is not valid xtext');
        if (!isPrintableAscii(envid)) {
          return fail('syntax', keyword, 'ENVID must decode to printable ASCII (no control characters)');
        }
        if (envid.length > MAX_ENVID_CHARS) {
          return fail('syntax', keyword, `ENVID is longer than ${MAX_ENVID_CHARS} characters`);
        }
        params.envid = envid;
        break;
      }
      case 'AUTH': {
        const auth = decodeClean(keyword, value);
        if (typeof auth !== 'string') return auth;
        params.auth = auth;
        break;
      }
    }
  }
  return { ok: true, params };
}

function parseNotify(value: string): 'NEVER' | NotifyCondition[] | Failure {
  const items = value.toUpperCase().split(',');
  if (items.length === 1 && items[0] === 'NEVER') return 'NEVER';
  const out: NotifyCondition[] = [];
  for (const item of items) {
    if (item === 'NEVER') return fail('syntax', 'NOTIFY', 'NOTIFY=NEVER cannot be combined with other values');
    if (item !== 'SUCCESS' && item !== 'FAILURE' && item !== 'DELAY') {
      return fail('syntax', 'NOTIFY', 'NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY');
    }
    if (out.includes(item)) return fail('syntax', 'NOTIFY', `NOTIFY lists ${item} twice`);
    out.push(item);
  }
  return out;
}

/** RFC 822 atom characters within esmtp-value: no specials ()<>@,;:\".[] */
const ADDR_TYPE = /^[!#-'*+\-/-9?A-Z^-~]+$/;

function parseOrcpt(value: string): { type: string; address: string } | Failure {
  if (value.length > MAX_ORCPT_CHARS) {
    return fail('syntax', 'ORCPT', `ORCPT is longer than ${MAX_ORCPT_CHARS} characters`);
  }
  const semi = value.indexOf(';');
  if (semi < 0) return fail('syntax', 'ORCPT', 'ORCPT must be addr-type;address (missing ";")');
  const type = value.slice(0, semi);
  if (!ADDR_TYPE.test(type)) return fail('syntax', 'ORCPT', 'ORCPT addr-type must be an atom such as rfc822');
  const encoded = value.slice(semi + 1);
  if (encoded.length === 0) return fail('syntax', 'ORCPT', 'ORCPT address is empty');
  const address = decodeClean('ORCPT', encoded);
  if (typeof address !== 'string') return address;
  return { type, address };
}

/** Parses the parameters after a RCPT TO path. NOTIFY and ORCPT exist only when DSN is offered. */
export function parseRcptParams(rest: string, caps: Pick<ParamCaps, 'dsn'>): RcptParamsResult {
  const offered = (k: string): boolean => caps.dsn && (k === 'NOTIFY' || k === 'ORCPT');
  const seen = new Set<string>();
  const params: RcptParams = {};
  for (const token of tokens(rest)) {
    const param = readParam(token, seen, offered);
    if ('ok' in param) return param;
    const { keyword, value } = param;
    if (value === null) return fail('syntax', keyword, `${keyword} requires a value`);
    if (keyword === 'NOTIFY') {
      const notify = parseNotify(value);
      if (typeof notify !== 'string' && !Array.isArray(notify)) return notify;
      params.notify = notify;
    } else {
      const orcpt = parseOrcpt(value);
      if ('ok' in orcpt) return orcpt;
      params.orcpt = orcpt;
    }
  }
  return { ok: true, params };
}
