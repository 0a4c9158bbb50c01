/**
 * What of the original message a DSN returns (RFC 3461 §4.3): the whole message, its
 * header section, or nothing, and why, so the human-readable part can say so.
 *
 * - The whole message only in a report of a failure, when the sender asked with RET=FULL: RET says
 *   what a report of failure returns. RET absent is the MTA's choice; like Postfix's default we
 *   return headers only then, and always in delay and success reports.
 * - Over `maxReturnBytes`, headers only; if even the header section is over it, nothing.
 * - Returned bytes are copied exactly, never re-encoded, so they must already be valid as a MIME
 *   body: CRLF lines of at most 998 octets, no bare CR or LF, no NUL. The spool only holds such
 *   messages; anything else falls back like an oversized message instead of breaking the report.
 */
import { headerSectionEnd } from '../message/headers.ts';
import { HARD_LIMIT } from './message-lines.ts';

export type FallbackReason = 'too-large' | 'malformed';

export type ReturnedContent =
  | { kind: 'full'; bytes: Uint8Array; eightBit: boolean }
  | { kind: 'headers'; bytes: Uint8Array; eightBit: boolean; fallback?: FallbackReason }
  | { kind: 'none'; fallback: FallbackReason };

export interface Scan {
  /** Every line ends in CRLF (the last may be unterminated), is ≤ 998 octets, and there is no NUL. */
  wellFormed: boolean;
  /** Some octet is over 0x7f. */
  eightBit: boolean;
}

/** One pass over `bytes[start, end)`. */
export function scanLines(bytes: Uint8Array, start = 0, end = bytes.length): Scan {
  let wellFormed = true;
  let eightBit = false;
  let lineStart = start;
  for (let i = start; i < end; i++) {
    const b = bytes[i] as number;
    if (b > 0x7f) eightBit = true;
    else if (b === 0x00) wellFormed = false;
    else if (b === 0x0d) {
      if (bytes[i + 1] !== 0x0a || i + 1 >= end) wellFormed = false;
      else {
        if (i - lineStart > HARD_LIMIT) wellFormed = false;
        i++;
        lineStart = i + 1;
      }
    } else if (b === 0x0a) wellFormed = false;
  }
  if (end - lineStart > HARD_LIMIT) wellFormed = false;
  return { wellFormed, eightBit };
}

export function chooseReturnedContent(
  original: Uint8Array,
  ret: 'FULL' | 'HDRS' | undefined,
  reportsFailure: boolean,
  maxReturnBytes: number,
): ReturnedContent {
  const { fieldsEnd } = headerSectionEnd(original);
  const headers = scanLines(original, 0, fieldsEnd);
  let fallback: FallbackReason | undefined;
  if (ret === 'FULL' && reportsFailure) {
    const body = scanLines(original, fieldsEnd);
    if (original.byteLength > maxReturnBytes) fallback = 'too-large';
    else if (!headers.wellFormed || !body.wellFormed) fallback = 'malformed';
    else return { kind: 'full', bytes: original, eightBit: headers.eightBit || body.eightBit };
  }
  if (fieldsEnd > maxReturnBytes) return { kind: 'none', fallback: 'too-large' };
  if (!headers.wellFormed) return { kind: 'none', fallback: 'malformed' };
  const bytes = original.subarray(0, fieldsEnd);
  return fallback === undefined ? { kind: 'headers', bytes, eightBit: headers.eightBit } : { kind: 'headers', bytes, eightBit: headers.eightBit, fallback };
}
