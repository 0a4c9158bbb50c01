/**
 * A mailbox as nodemailer will send it in MAIL FROM / RCPT TO (IDN domains in A-labels unless the
 * local part needs SMTPUTF8, odd local parts quoted), so its per-recipient results can be matched
 * back to the caller's recipients. Empty when nodemailer would drop the address.
 */
import MimeNode from 'nodemailer/lib/mime-node';

export function smtpAddress(address: string): string {
  // As an object, not a string: a string goes through nodemailer's header address parser, which
  // reads `a b@example.com` as a display name and `b@example.com`.
  const envelope = new MimeNode().setEnvelope({ to: [{ address, name: '' }] }).getEnvelope();
  return envelope.to[0] ?? '';
}
