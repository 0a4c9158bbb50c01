/**
 * The body of the message/delivery-status part (RFC 3464 §2): the per-message fields, then one
 * blank-line-separated group per recipient. Values from elsewhere arrive already made one-line safe.
 */
import { rfc5322Date, traceAddress } from '../smtp/received-header.ts';
import { originalRecipient, typedAddress, type AddressForm } from './dsn-address.ts';
import type { DsnInput, PreparedRecipient } from './dsn-types.ts';
import { HARD_LIMIT, headerField, oneLine } from './message-lines.ts';

/** Addresses are folded only if they cannot fit on one line: simple readers split them less. */
const UNBROKEN = HARD_LIMIT;
const SMTP_REPLY = /^[2-5][0-9][0-9](?:[ -]|$)/;

function perMessage(reportingMta: string, envelope: DsnInput['envelope']): string {
  let out = headerField('Reporting-MTA', `dns; ${reportingMta}`);
  if (envelope.envid !== undefined) out += headerField('Original-Envelope-Id', oneLine(envelope.envid, false));
  if (envelope.client !== undefined) {
    const helo = oneLine(envelope.client.helo, false);
    const literal = `[${oneLine(traceAddress(envelope.client.address), false)}]`;
    out += headerField('Received-From-MTA', helo === '' ? `dns; ${literal}` : `dns; ${helo} (${literal})`);
  }
  out += headerField('Arrival-Date', rfc5322Date(new Date(envelope.receivedAt)));
  // An extension field (RFC 3464 §2.4) that ties the report to our tracking log.
  return out + headerField('X-Sluice-Queue-ID', envelope.id);
}

function perRecipient(r: PreparedRecipient, form: AddressForm): string {
  const { recipient } = r;
  let out = '';
  if (recipient.orcpt !== undefined) out += headerField('Original-Recipient', originalRecipient(recipient.orcpt, form), UNBROKEN);
  out += headerField('Final-Recipient', typedAddress(recipient.address, form), UNBROKEN);
  out += headerField('Action', recipient.action);
  out += headerField('Status', recipient.status);
  if (r.remoteMta !== undefined && r.remoteMta !== '') out += headerField('Remote-MTA', `dns; ${r.remoteMta}`);
  if (r.diagnostic !== undefined && r.diagnostic !== '') {
    // Only an SMTP reply is of diagnostic-type smtp; anything else is ours (like Postfix's X-Postfix).
    out += headerField('Diagnostic-Code', `${SMTP_REPLY.test(r.diagnostic) ? 'smtp' : 'X-Sluice'}; ${r.diagnostic}`);
  }
  if (recipient.lastAttemptAt !== undefined) out += headerField('Last-Attempt-Date', rfc5322Date(new Date(recipient.lastAttemptAt)));
  if (recipient.action === 'delayed' && recipient.willRetryUntil !== undefined) {
    out += headerField('Will-Retry-Until', rfc5322Date(new Date(recipient.willRetryUntil)));
  }
  return out;
}

/** The part's body; every group ends in CRLF and groups are separated by an empty line. */
export function deliveryStatus(reportingMta: string, envelope: DsnInput['envelope'], recipients: readonly PreparedRecipient[], form: AddressForm): string {
  return [perMessage(reportingMta, envelope), ...recipients.map((r) => perRecipient(r, form))].join('\r\n');
}
