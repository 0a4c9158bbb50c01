/** The lookup key of a mail address: what recipient tables compare, never what is delivered to. */

/** An RFC 5322 dot-atom (UTF-8 allowed, RFC 6531); dot-separated runs, so matching is linear. */
const DOT_ATOM = /^[^\x00-\x20"(),.:;<>@[\\\]\x7f]+(?:\.[^\x00-\x20"(),.:;<>@[\\\]\x7f]+)*$/;

/** Splits at the last `@` (a quoted local part may contain `@`); `domain` is null when there is none. */
export function splitAddress(address: string): { localPart: string; domain: string | null } {
  const at = address.lastIndexOf('@');
  return at === -1 ? { localPart: address, domain: null } : { localPart: address.slice(0, at), domain: address.slice(at + 1) };
}

/**
 * `local@domain` lowercased in both parts, with a quoted local part unquoted when it needs no quotes
 * (`"Bob"@Example.COM` and `bob@example.com` are one key; RFC 5321 §2.4 makes the local part
 * case-sensitive in principle, but like Postfix we look it up case-insensitively). Returns null for
 * an address without a local part or a domain.
 */
export function addressKey(address: string): string | null {
  const { localPart, domain } = splitAddress(address);
  if (domain === null || domain === '' || localPart === '') return null;
  return `${localKey(localPart)}@${domain.toLowerCase()}`;
}

function localKey(localPart: string): string {
  if (localPart.length >= 2 && localPart.startsWith('"') && localPart.endsWith('"')) {
    const unquoted = localPart.slice(1, -1).replace(/\\(.)/g, '$1');
    if (DOT_ATOM.test(unquoted)) return unquoted.toLowerCase();
  }
  return localPart.toLowerCase();
}
