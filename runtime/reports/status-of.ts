/**
 * The RFC 3463 status code a DSN reports for an SMTP reply: the enhanced code the reply carries
 * (RFC 2034), or one derived from the reply code's class when it carries none.
 */
import { DsnInputError } from './dsn-input-error.ts';

const REPLY_CODE = /^([0-9])[0-9][0-9](?=[ -]|$)/;
/** class "." subject "." detail, each 1–3 digits, ending at a space or the end of the line. */
const ENHANCED = /^([245])\.([0-9]{1,3})\.([0-9]{1,3})(?=[ \t\r\n]|$)/;

/**
 * `'451 4.4.1 try later'` → `'4.4.1'`; `'550 no such user'` → `'5.0.0'`. Multi-line replies are read
 * from their first line. An enhanced code whose class contradicts the reply code (`'550 2.0.0'`) is
 * ignored: the reply code decides whether delivery failed, so the status must agree with it.
 * Throws a `DsnInputError` for text that is not a 2xx, 4xx or 5xx reply.
 */
export function statusOf(reply: string): string {
  if (typeof reply !== 'string') throw new DsnInputError('reply', `expected a string, got ${typeof reply}`);
  const code = REPLY_CODE.exec(reply);
  if (code === null) {
    throw new DsnInputError('reply', `is not an SMTP reply (it must start with a three-digit code): ${JSON.stringify(reply.slice(0, 60))}`);
  }
  const cls = code[1] as string;
  if (cls !== '2' && cls !== '4' && cls !== '5') {
    throw new DsnInputError('reply', `reply code ${code[0]} has no delivery status class (only 2xx, 4xx and 5xx do)`);
  }
  const enhanced = ENHANCED.exec(reply.slice(4));
  if (enhanced !== null && enhanced[1] === cls) {
    return `${cls}.${Number(enhanced[2])}.${Number(enhanced[3])}`;
  }
  return `${cls}.0.0`;
}
