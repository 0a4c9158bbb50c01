/**
 * How a DSN writes an address: `address-type; address` (RFC 3464 §2.1.2). ASCII addresses are
 * `rfc822`; internationalized ones are `utf-8` (RFC 6533 §3), written as utf-8-addr-xtext (every
 * non-ASCII character and the specials SP, "\", "+", "=" as `\x{HEX}`) in the 7-bit
 * message/delivery-status, or as utf-8-addr-unitext (UTF-8 kept, only the specials escaped) in
 * message/global-delivery-status.
 */

/** xtext: 7-bit, for message/delivery-status. unitext: UTF-8, for message/global-delivery-status. */
export type AddressForm = 'xtext' | 'unitext';

export function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** RFC 6533 QCHAR: printable ASCII except "+", "=" and "\". */
function isQchar(cp: number): boolean {
  return cp >= 0x21 && cp <= 0x7e && cp !== 0x2b && cp !== 0x3d && cp !== 0x5c;
}

/** RFC 6533 utf-8-addr-xtext or utf-8-addr-unitext; HEXPOINT is upper-case hex without leading zeros. */
export function encodeUtf8Address(address: string, form: AddressForm): string {
  let out = '';
  for (const ch of address) {
    const cp = ch.codePointAt(0) as number;
    out += isQchar(cp) || (form === 'unitext' && cp > 0x7f) ? ch : `\\x{${cp.toString(16).toUpperCase()}}`;
  }
  return out;
}

/** Undoes EmbeddedUnicodeChar escapes (an ORCPT of type utf-8 may arrive in either form). */
export function decodeUtf8Address(encoded: string): string {
  return encoded.replace(/\\x\{([0-9A-Fa-f]{1,6})\}/g, (escape, hex: string) => {
    const cp = Number.parseInt(hex, 16);
    return cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? escape : String.fromCodePoint(cp);
  });
}

/** `rfc822; a@b` or `utf-8; …` for an address we route (Final-Recipient, the envelope sender). */
export function typedAddress(address: string, form: AddressForm): string {
  return isAscii(address) ? `rfc822; ${address}` : `utf-8; ${encodeUtf8Address(address, form)}`;
}

/**
 * The Original-Recipient value for an ORCPT: its own type kept (a utf-8 address re-encoded for the
 * part), except that a non-ASCII rfc822 address becomes `utf-8` (RFC 6533 §3: rfc822 is ASCII).
 * Other types (x400, …) are passed through, with non-ASCII escaped when the part is 7-bit.
 */
export function originalRecipient(orcpt: { type: string; address: string }, form: AddressForm): string {
  const type = orcpt.type.toLowerCase();
  if (type === 'utf-8') {
    return `utf-8; ${encodeUtf8Address(decodeUtf8Address(orcpt.address), form)}`;
  }
  if (type === 'rfc822') return typedAddress(orcpt.address, form);
  if (form === 'unitext' || isAscii(orcpt.address)) return `${orcpt.type}; ${orcpt.address}`;
  let escaped = '';
  for (const ch of orcpt.address) {
    const cp = ch.codePointAt(0) as number;
    escaped += cp > 0x7f ? `\\x{${cp.toString(16).toUpperCase()}}` : ch;
  }
  return `${orcpt.type}; ${escaped}`;
}
