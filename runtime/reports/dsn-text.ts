/**
 * The human-readable first part of a DSN's multipart/report (RFC 6522): which recipients, what
 * happened, why (the remote reply), whether and until when delivery is retried, and what of the
 * message is attached. Plain prose, wrapped at 76 columns, CRLF lines.
 */
import { rfc5322Date } from '../smtp/received-header.ts';
import type { DsnAction, PreparedRecipient } from './dsn-types.ts';
import { oneLine, wrapText } from './message-lines.ts';
import type { ReturnedContent } from './returned-content.ts';

export interface TextInput {
  reportingMta: string;
  queueId: string;
  receivedAt: number;
  recipients: readonly PreparedRecipient[];
  returned: ReturnedContent;
  maxReturnBytes: number;
  utf8: boolean;
}

const ORDER: readonly DsnAction[] = ['failed', 'delayed', 'delivered', 'relayed', 'expanded'];

const INTRO: Record<DsnAction, string> = {
  failed: 'Your message could not be delivered to the following recipients. This is a permanent error: the mail system has given up on them.',
  delayed: 'Your message has not yet been delivered to the following recipients. This is only a warning: the mail system keeps trying, and you do not need to send the message again.',
  delivered: 'Your message was delivered to the following recipients.',
  relayed: 'Your message was passed on to the mail systems of the following recipients. Those systems do not confirm delivery, so this is the last success report for them.',
  expanded: 'Your message was delivered to the following addresses, which forwarded it to further recipients (a list or alias); no further reports will be sent for them.',
};

/** The recipient's line, and a second one with the retry deadline of a delayed recipient. */
function lines(r: PreparedRecipient, utf8: boolean): string[] {
  const who = `<${r.recipient.address}>${r.original !== undefined ? ` (originally <${r.original}>)` : ''}`;
  const { status, action, willRetryUntil } = r.recipient;
  let why: string;
  if (r.diagnostic !== undefined && r.diagnostic !== '') {
    why = r.remoteMta !== undefined && r.remoteMta !== '' ? `host ${r.remoteMta} said: ${r.diagnostic}` : r.diagnostic;
  } else {
    why = r.remoteMta !== undefined && r.remoteMta !== '' ? `${action} (status ${status}, host ${r.remoteMta})` : `${action} (status ${status})`;
  }
  const lines = [oneLine(`${who}: ${why}`, utf8)];
  if (action === 'delayed' && willRetryUntil !== undefined) lines.push(`Delivery will be retried until ${rfc5322Date(new Date(willRetryUntil))}.`);
  return lines;
}

function returnedNote(returned: ReturnedContent, maxReturnBytes: number): string {
  const limit = `${maxReturnBytes} bytes`;
  if (returned.kind === 'full') return 'The undelivered message is attached.';
  if (returned.kind === 'headers') {
    if (returned.fallback === 'too-large') return `The message is larger than the ${limit} that are returned in full, so only its headers are attached.`;
    if (returned.fallback === 'malformed') return 'The message is not a well-formed Internet message (a line is longer than 998 octets or does not end in CRLF), so only its headers are attached.';
    return 'The headers of the message are attached.';
  }
  if (returned.fallback === 'too-large') return `The header section of the message alone is larger than ${limit}, so nothing of the message is attached.`;
  return 'The header section of the message is not well-formed (a line is longer than 998 octets or does not end in CRLF), so nothing of the message is attached.';
}

/** The text/plain body. */
export function dsnText(input: TextInput): string {
  const { reportingMta, utf8 } = input;
  let out = wrapText(`This is the mail system at host ${reportingMta}.`);
  out += '\r\n';
  for (const action of ORDER) {
    const group = input.recipients.filter((r) => r.recipient.action === action);
    if (group.length === 0) continue;
    out += wrapText(INTRO[action]);
    out += '\r\n';
    for (const r of group) {
      const [first, ...more] = lines(r, utf8);
      out += wrapText(first as string, 76, '    ');
      for (const l of more) out += wrapText(`    ${l}`, 76, '    ');
    }
    out += '\r\n';
  }
  out += wrapText(oneLine(`The message was received on ${rfc5322Date(new Date(input.receivedAt))} (queue id ${input.queueId}).`, utf8));
  out += wrapText(returnedNote(input.returned, input.maxReturnBytes));
  out += '\r\n';
  out += wrapText(`For help, write to <postmaster@${reportingMta}> and include this report.`);
  return out;
}
