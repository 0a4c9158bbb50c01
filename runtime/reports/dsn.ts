/**
 * Builds delivery status notifications (RFC 3464 in an RFC 6522 multipart/report) for the queue:
 * a pure function from the envelope, the reported recipients and the stored message to the bytes
 * of a new message that goes back into the pipeline from the null sender.
 *
 * Internationalized mail (RFC 6533). When the report is about an SMTPUTF8 message — the envelope
 * sender, a reported recipient, or the original header section is not ASCII — it uses what RFC 6533
 * defines for that case: a `message/global-delivery-status` part, which must be sent 8bit, with
 * addresses as `utf-8; <utf-8-addr-unitext>` (§3), under `report-type=global-delivery-status` (the
 * report-type names the second part's subtype, RFC 6522), a UTF-8 text part, and the message
 * returned as `message/global` or `message/global-headers` when its header section is UTF-8
 * (RFC 6532). Such a report needs SMTPUTF8 to travel back, as the original did.
 * Otherwise the report is the classic 7-bit `message/delivery-status`; an ORCPT of type utf-8 is then
 * written as utf-8-addr-xtext (`\x{E9}`), which RFC 6533 §3 made for exactly that. Returned content is
 * never re-encoded: a message with an 8-bit body is returned as `message/rfc822` labelled 8bit.
 *
 * Safety: every line we write ends in CRLF and is folded or wrapped to 998 octets at most; CR and LF
 * in values from elsewhere (an SMTP reply, HELO, ENVID) become spaces, so they cannot add a field.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { headerSectionEnd, parseHeaders } from '../message/headers.ts';
import { rfc5322Date } from '../smtp/received-header.ts';
import { deliveryStatus } from './delivery-status.ts';
import { decodeUtf8Address, encodeUtf8Address, isAscii, type AddressForm } from './dsn-address.ts';
import { checkDsnInput } from './dsn-input.ts';
import { dsnText } from './dsn-text.ts';
import type { BuiltDsn, DsnAction, DsnInput, PreparedRecipient } from './dsn-types.ts';
import { HARD_LIMIT, headerField, oneLine } from './message-lines.ts';
import { chooseReturnedContent, scanLines, type ReturnedContent } from './returned-content.ts';

export type { BuiltDsn, DsnAction, DsnInput, DsnRecipient } from './dsn-types.ts';
export { DsnInputError } from './dsn-input-error.ts';
export { wantsReport } from './notify.ts';
export { statusOf } from './status-of.ts';

/** Above this, a message is returned as headers only (RFC 3461 leaves the limit to the MTA). */
export const DEFAULT_MAX_RETURN_BYTES = 1024 * 1024;
/** Addresses and ids are folded only if they cannot fit on one line: simple readers split them less. */
const UNBROKEN = HARD_LIMIT;
/** A remote reply longer than this is cut: it is there to explain, not to carry a payload. */
const MAX_DIAGNOSTIC_CHARS = 2000;

const SUBJECTS = {
  failed: 'Undelivered Mail Returned to Sender',
  delayed: 'Delayed Mail (still being retried)',
  success: 'Successful Mail Delivery Report',
} as const;

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max).trimEnd()} [...]` : text;
}

/** The first `<…>` of the original's Message-ID field, for In-Reply-To and References. */
function originalMessageId(original: Uint8Array): string | null {
  const field = parseHeaders(original).find((f) => f.name.toLowerCase() === 'message-id');
  const id = field === undefined ? null : /<[^<>\s]{1,900}>/.exec(field.value);
  return id === null ? null : id[0];
}

/** A boundary that occurs in none of the parts: derived from the report's Message-ID, re-drawn on a clash. */
function pickBoundary(seed: string, parts: readonly (string | Uint8Array)[]): string {
  for (let n = 0; ; n++) {
    const boundary = `=_sluice_${createHash('sha256').update(`${seed}\0${n}`).digest('hex').slice(0, 32)}`;
    const delimiter = `--${boundary}`;
    const clash = parts.some((p) => (typeof p === 'string' ? p.includes(delimiter) : Buffer.from(p.buffer, p.byteOffset, p.byteLength).includes(delimiter)));
    if (!clash) return boundary;
  }
}

function returnedPart(returned: ReturnedContent, undelivered: boolean, utf8Headers: boolean): string {
  if (returned.kind === 'none') return '';
  const full = returned.kind === 'full';
  const type = utf8Headers ? (full ? 'message/global' : 'message/global-headers') : full ? 'message/rfc822' : 'text/rfc822-headers';
  const description = `${undelivered ? 'Undelivered ' : ''}${full ? 'Message' : 'Message Headers'}`;
  return headerField('Content-Description', description) + headerField('Content-Type', type) + headerField('Content-Transfer-Encoding', returned.eightBit ? '8bit' : '7bit');
}

/**
 * The report for `input.recipients`, from `<>` to the original sender; null when the original came
 * from the null sender (no report about a report, RFC 5321 §4.5.5). Throws `DsnInputError` naming the
 * field when the input breaks the contract.
 */
export function buildDsn(input: DsnInput): BuiltDsn | null {
  const sender = (input as Partial<DsnInput> | undefined)?.envelope?.sender;
  if (sender === '' || sender === '<>') return null;
  checkDsnInput(input);
  const { envelope, original, reportingMta } = input;
  const maxReturnBytes = input.maxReturnBytes ?? DEFAULT_MAX_RETURN_BYTES;
  const actions = new Set<DsnAction>(input.recipients.map((r) => r.action));
  const undelivered = actions.has('failed') || actions.has('delayed');

  const headerBytes = scanLines(original, 0, headerSectionEnd(original).fieldsEnd);
  const global = headerBytes.eightBit || !isAscii(envelope.sender) || input.recipients.some((r) => !isAscii(r.address));
  const form: AddressForm = global ? 'unitext' : 'xtext';
  const returned = chooseReturnedContent(original, envelope.ret, actions.has('failed'), maxReturnBytes);

  // Per recipient, every value that came from elsewhere is made safe once and used in both parts.
  const recipients: PreparedRecipient[] = input.recipients.map((recipient) => {
    const r: PreparedRecipient = { recipient };
    if (recipient.orcpt !== undefined) {
      const isUtf8 = recipient.orcpt.type.toLowerCase() === 'utf-8';
      const decoded = isUtf8 ? decodeUtf8Address(recipient.orcpt.address) : recipient.orcpt.address;
      if (decoded.toLowerCase() !== recipient.address.toLowerCase()) r.original = global || isAscii(decoded) ? decoded : encodeUtf8Address(decoded, 'xtext');
    }
    if (recipient.diagnostic !== undefined) r.diagnostic = oneLine(clip(recipient.diagnostic, MAX_DIAGNOSTIC_CHARS), global);
    if (recipient.remoteMta !== undefined) r.remoteMta = oneLine(recipient.remoteMta, false);
    return r;
  });

  const status = deliveryStatus(reportingMta, envelope, recipients, form);

  const text = dsnText({ reportingMta, queueId: envelope.id, receivedAt: envelope.receivedAt, recipients, returned, maxReturnBytes, utf8: global });
  const textHead =
    headerField('Content-Description', 'Notification') +
    headerField('Content-Type', `text/plain; charset=${global ? 'utf-8' : 'us-ascii'}`) +
    headerField('Content-Transfer-Encoding', global ? '8bit' : '7bit');
  const statusHead =
    headerField('Content-Description', 'Delivery report') +
    headerField('Content-Type', global ? 'message/global-delivery-status' : 'message/delivery-status') +
    (global ? headerField('Content-Transfer-Encoding', '8bit') : '');
  const returnedHead = returnedPart(returned, undelivered, headerBytes.eightBit);
  const returnedBytes = returned.kind === 'none' ? new Uint8Array(0) : returned.bytes;

  const boundary = pickBoundary(input.messageId, [text, status, returnedBytes]);
  const inReplyTo = originalMessageId(original);
  const subject = actions.has('failed') ? SUBJECTS.failed : actions.has('delayed') ? SUBJECTS.delayed : SUBJECTS.success;
  const eightBit = global || (returned.kind !== 'none' && returned.eightBit);
  let head =
    headerField('From', `Mail Delivery System <MAILER-DAEMON@${reportingMta}>`) +
    headerField('To', `<${envelope.sender}>`, UNBROKEN) +
    headerField('Subject', subject) +
    headerField('Date', rfc5322Date(new Date(input.now))) +
    headerField('Message-ID', `<${input.messageId}>`, UNBROKEN);
  if (inReplyTo !== null) head += headerField('In-Reply-To', inReplyTo, UNBROKEN) + headerField('References', inReplyTo, UNBROKEN);
  head +=
    headerField('Auto-Submitted', 'auto-replied') +
    headerField('MIME-Version', '1.0') +
    headerField('Content-Type', `multipart/report; report-type=${global ? 'global-delivery-status' : 'delivery-status'}; boundary="${boundary}"`) +
    headerField('Content-Transfer-Encoding', eightBit ? '8bit' : '7bit');

  const pieces: (string | Uint8Array)[] = [
    `${head}\r\nThis is a delivery status notification in MIME format (RFC 3464).\r\n`,
    `\r\n--${boundary}\r\n${textHead}\r\n${text}`,
    `\r\n--${boundary}\r\n${statusHead}\r\n${status}`,
  ];
  if (returned.kind !== 'none') pieces.push(`\r\n--${boundary}\r\n${returnedHead}\r\n`, returnedBytes);
  pieces.push(`\r\n--${boundary}--\r\n`);
  const message = Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
  return { sender: '', recipient: envelope.sender, message: new Uint8Array(message.buffer, message.byteOffset, message.byteLength) };
}
