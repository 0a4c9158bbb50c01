/** SASL PLAIN and LOGIN (RFC 4616, RFC 4954): strict base64 and credential decoding, no I/O. */

export type SaslResult<T> = { ok: true; value: T } | { ok: false; message: string };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes one SASL response line; `=` is the empty response (RFC 4954 4). */
export function decodeResponse(line: string): SaslResult<Uint8Array> {
  if (line === '=') return { ok: true, value: new Uint8Array(0) };
  if (line.length === 0 || !BASE64.test(line)) return { ok: false, message: 'Invalid base64 in SASL response' };
  return { ok: true, value: Uint8Array.from(atob(line), (c) => c.charCodeAt(0)) };
}

/** True for characters that must never appear in an identity: controls, DEL, separators. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0) || c === 0x2028 || c === 0x2029) return true;
  }
  return false;
}

function utf8(bytes: Uint8Array): string | null {
  try {
    return fatalUtf8.decode(bytes);
  } catch {
    return null;
  }
}

export interface PlainCredentials {
  user: string;
  password: string;
}

/**
 * PLAIN: `authzid NUL authcid NUL passwd`. Acting as another identity is refused: the authorization
 * identity must be empty or equal the authentication identity.
 */
export function decodePlain(message: Uint8Array): SaslResult<PlainCredentials> {
  const first = message.indexOf(0);
  const second = first === -1 ? -1 : message.indexOf(0, first + 1);
  if (first === -1 || second === -1 || message.indexOf(0, second + 1) !== -1) {
    return { ok: false, message: 'PLAIN response must be authzid NUL authcid NUL password' };
  }
  const authzid = utf8(message.subarray(0, first));
  const user = utf8(message.subarray(first + 1, second));
  const password = utf8(message.subarray(second + 1));
  if (authzid === null || user === null || password === null) return { ok: false, message: 'Invalid UTF-8 in credentials' };
  if (user.length === 0 || user.length > 255 || hasControl(user) || hasControl(authzid)) {
    return { ok: false, message: 'Invalid user name' };
  }
  if (authzid !== '' && authzid !== user) return { ok: false, message: 'Authorization identity must match the user' };
  return { ok: true, value: { user, password } };
}

/** LOGIN: one field per response, already base64-decoded. */
export function decodeLoginField(field: Uint8Array, what: 'user' | 'password'): SaslResult<string> {
  const s = utf8(field);
  if (s === null) return { ok: false, message: 'Invalid UTF-8 in credentials' };
  if (what === 'user' && (s.length === 0 || s.length > 255 || hasControl(s))) return { ok: false, message: 'Invalid user name' };
  return { ok: true, value: s };
}

/** Base64 of a LOGIN prompt. */
export const LOGIN_USER_PROMPT = btoa('Username:');
export const LOGIN_PASSWORD_PROMPT = btoa('Password:');
