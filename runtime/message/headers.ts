/**
 * The header section of a stored message: parse it into fields (unfolded) for agents, and apply
 * agents' header edits to the message bytes. Pure functions over bytes; the body is never touched
 * or copied more than once.
 */
import { Buffer } from 'node:buffer';
import type { HeaderEdit } from '../../sdk/verdict-schema.ts';

export interface HeaderField {
  name: string;
  /** Unfolded: each CRLF followed by whitespace is removed, the whitespace kept. */
  value: string;
}

/** Where the header section ends: the offset just past its blank line (or the end, if none). */
export function headerSectionEnd(message: Uint8Array): { fieldsEnd: number; bodyStart: number } {
  const buf = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  if (buf.subarray(0, 2).toString('latin1') === '\r\n') return { fieldsEnd: 0, bodyStart: 2 };
  const blank = buf.indexOf('\r\n\r\n');
  if (blank === -1) return { fieldsEnd: buf.length, bodyStart: buf.length };
  return { fieldsEnd: blank + 2, bodyStart: blank + 4 };
}

/** Raw field blocks (each with its continuation lines and CRLFs) of the header section. */
function rawFields(section: string): string[] {
  const fields: string[] = [];
  let at = 0;
  while (at < section.length) {
    let end = section.indexOf('\r\n', at);
    if (end === -1) end = section.length - 2;
    // Continuation lines belong to the field above them.
    while (end + 2 < section.length && (section[end + 2] === ' ' || section[end + 2] === '\t')) {
      const next = section.indexOf('\r\n', end + 2);
      end = next === -1 ? section.length - 2 : next;
    }
    fields.push(section.slice(at, end + 2));
    at = end + 2;
  }
  return fields;
}

function nameOf(raw: string): string | null {
  const colon = raw.indexOf(':');
  if (colon <= 0) return null;
  const name = raw.slice(0, colon);
  return /^[!-9;-~]+$/.test(name) ? name : null;
}

/**
 * The header fields of a message, in order. Lines that are not fields (no name, no colon) are
 * skipped here but kept in the message by `applyHeaderEdits`. Header bytes are read as UTF-8
 * (RFC 6532), invalid sequences as U+FFFD.
 */
export function parseHeaders(message: Uint8Array): HeaderField[] {
  const { fieldsEnd } = headerSectionEnd(message);
  const section = Buffer.from(message.buffer, message.byteOffset, fieldsEnd).toString('utf8');
  const out: HeaderField[] = [];
  for (const raw of rawFields(section)) {
    const name = nameOf(raw);
    if (name === null) continue;
    const value = raw.slice(name.length + 1).replace(/\r\n$/, '').replace(/\r\n(?=[ \t])/g, '').replace(/^[ \t]+/, '');
    out.push({ name, value });
  }
  return out;
}

/** Trace fields belong to the servers that handled the message: agents may add but never change them. */
const PROTECTED = new Set(['received', 'return-path']);

/** True for an edit agents may not make: changing or removing a trace field. */
export function isProtectedEdit(edit: HeaderEdit): boolean {
  return edit.op !== 'add' && PROTECTED.has(edit.name.toLowerCase());
}

export type EditResult = { ok: true; message: Uint8Array[] } | { ok: false; error: string };

/**
 * Applies edits in order: `add` appends a field at the end of the header section, `set` replaces
 * the first field of that name and removes the others (or appends), `remove` removes all of them.
 * Names compare case-insensitively. Returns the new message as parts (new header section, then the
 * untouched rest of the original bytes).
 */
export function applyHeaderEdits(message: Uint8Array, edits: readonly HeaderEdit[]): EditResult {
  if (edits.length === 0) return { ok: true, message: [message] };
  const { fieldsEnd } = headerSectionEnd(message);
  const bytes = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  let fields = rawFields(bytes.subarray(0, fieldsEnd).toString('latin1'));
  // A header-only message may end without CRLF; a field appended after it must not join its line.
  const last = fields.length - 1;
  if (last >= 0 && !fields[last]!.endsWith('\r\n')) fields[last] += '\r\n';
  for (const edit of edits) {
    const key = edit.name.toLowerCase();
    if (edit.op !== 'add' && PROTECTED.has(key)) return { ok: false, error: `the ${edit.name} trace field cannot be changed or removed` };
    const line = edit.op === 'remove' ? '' : `${edit.name}: ${edit.value}\r\n`;
    if (edit.op === 'add') {
      fields = [...fields, line];
      continue;
    }
    const matches = (raw: string): boolean => nameOf(raw)?.toLowerCase() === key;
    const first = fields.findIndex(matches);
    fields = fields.filter((raw, i) => !matches(raw) || (edit.op === 'set' && i === first));
    if (edit.op === 'set') {
      const at = fields.findIndex(matches);
      if (at === -1) fields.push(line);
      else fields[at] = line;
    }
  }
  const head = Buffer.from(fields.join(''), 'latin1');
  // A message without a header/body separator gets none added; one with a body keeps its blank line.
  return { ok: true, message: [head, bytes.subarray(fieldsEnd)] };
}
