/**
 * Lines we generate for an Internet message (RFC 5322 §2.1.1): text made safe for one line, header
 * fields folded, prose wrapped. Every line stays within 998 octets (78 where whitespace allows) and no
 * CR or LF from a value survives, so a value can never end a field and start another.
 */
import { Buffer } from 'node:buffer';

/** RFC 5322 §2.1.1: at most 998 octets before the CRLF; 78 preferred. */
export const HARD_LIMIT = 998;
export const SOFT_LIMIT = 78;

const octets = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * Free text (an SMTP reply, a host name from elsewhere) as one printable line: every run of CR and LF
 * becomes one space (a multi-line reply reads as one), tabs become spaces, other control characters
 * and unpaired surrogates become "?", and so does anything outside ASCII unless `utf8` allows it.
 * Surrounding whitespace is trimmed.
 */
export function oneLine(text: string, utf8: boolean): string {
  let out = '';
  for (const ch of text.replace(/[\r\n]+/g, ' ')) {
    const cp = ch.codePointAt(0) as number;
    if (cp === 0x09) out += ' ';
    else if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp <= 0x9f)) out += '?';
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '?';
    else if (cp > 0x7f && !utf8) out += '?';
    else out += ch;
  }
  return out.trim();
}

/** Cuts a line that has no whitespace left to break at into pieces of at most `max` octets. */
function hardSplit(line: string, max: number): string[] {
  const pieces: string[] = [];
  let piece = '';
  let size = 0;
  for (const ch of line) {
    const n = octets(ch);
    if (size + n > max) {
      pieces.push(piece);
      piece = '';
      size = 0;
    }
    piece += ch;
    size += n;
  }
  pieces.push(piece);
  return pieces;
}

/** Greedy fill: a chunk that would pass `width` starts a new line, as `next` makes it. */
function fill(first: string, chunks: readonly string[], width: number, next: (chunk: string) => string): string[] {
  const lines: string[] = [];
  let line = first;
  for (const chunk of chunks) {
    if (octets(line) + octets(chunk) > width) {
      lines.push(line);
      line = next(chunk);
    } else {
      line += chunk;
    }
  }
  lines.push(line);
  return lines;
}

/** Lines still over 998 octets (a run without whitespace) are cut; each cut continues after `prefix`. */
function cutLong(lines: readonly string[], prefix: string): string[] {
  return lines.flatMap((l) => {
    if (octets(l) <= HARD_LIMIT) return [l];
    const [head = '', ...rest] = hardSplit(l, HARD_LIMIT);
    return [head, ...hardSplit(rest.join(''), HARD_LIMIT - prefix.length).map((p) => prefix + p)];
  });
}

/**
 * One header field, folded (RFC 5322 §2.2.3) and ending in CRLF. `value` must already be one line
 * (see `oneLine`). Folding happens only before whitespace that is followed by non-whitespace, so no
 * line is whitespace only and unfolding gives the value back, at `width` octets (78, or up to 998 for
 * a field such as an address that reads best unbroken). A run without whitespace that would still
 * break 998 octets is cut, and the cut starts a continuation line with one added space: the only
 * case where folding changes the unfolded value.
 */
export function headerField(name: string, value: string, width = SOFT_LIMIT): string {
  const [first = '', ...chunks] = `${name}: ${value}`.split(/(?=[ \t][^ \t])/);
  // Never break between the name and the start of its value.
  const start = chunks.length > 0 ? first + (chunks.shift() as string) : first;
  return `${cutLong(fill(start, chunks, width, (chunk) => chunk), ' ').join('\r\n')}\r\n`;
}

/**
 * Prose for a text/plain part: wrapped at `width` octets on spaces, continuation lines indented by
 * `indent`; a word too long for any line is cut at 998 octets. Returns CRLF-terminated lines.
 */
export function wrapText(text: string, width = 76, indent = ''): string {
  if (text === '') return '\r\n';
  const [first = '', ...words] = text.split(/(?= [^ ])/);
  // Each later word starts with the space before it; a new line puts the indent in its place.
  return `${cutLong(fill(first, words, width, (word) => indent + word.slice(1)), indent).join('\r\n')}\r\n`;
}
