// xtext (RFC 3461 §4) encoding and strict decoding for ESMTP parameter values such as ENVID, ORCPT and AUTH.

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();
const HEX = '0123456789ABCDEF';

/** Value of an uppercase hex digit, or -1. Lowercase is not hexchar in RFC 3461. */
function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  return -1;
}

/** Whether an octet may stand for itself in xtext: 33–126 except '+' and '='. */
function isXchar(code: number): boolean {
  return code >= 33 && code <= 126 && code !== 0x2b && code !== 0x3d;
}

/**
 * Decodes xtext. Each "+HH" (two uppercase hex digits) is one octet; the octets are then read as
 * UTF-8. Returns null for anything outside the grammar (space, '=', non-ASCII, lowercase or short
 * hex) and for octet sequences that are not valid UTF-8. The empty string decodes to ''.
 */
export function decodeXtext(s: string): string | null {
  const bytes = new Uint8Array(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (code === 0x2b) {
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return null;
      bytes[n++] = hi * 16 + lo;
      i += 2;
    } else if (isXchar(code)) {
      bytes[n++] = code;
    } else {
      return null;
    }
  }
  try {
    return utf8Decoder.decode(bytes.subarray(0, n));
  } catch {
    return null;
  }
}

/**
 * Encodes a string as xtext: UTF-8 octets 33–126 other than '+' and '=' stay literal, every other
 * octet becomes "+HH". Lone surrogates cannot be represented in UTF-8 and are encoded as U+FFFD.
 */
export function encodeXtext(s: string): string {
  let out = '';
  for (const byte of utf8Encoder.encode(s)) {
    out += isXchar(byte) ? String.fromCharCode(byte) : `+${HEX[byte >> 4]}${HEX[byte & 15]}`;
  }
  return out;
}
