/** Event payloads for `test` and `bench`: a representative payload per receive event, and a synthetic SMTP session from an .eml file. */
import { Buffer } from 'node:buffer';
import { parseHeaders } from '../../runtime/message/headers.ts';
import type { EnvelopeInfo, HeaderField, ReceiveEvents, SessionInfo } from '../event-payloads.ts';

/** The facts of one message a synthetic session delivers. */
export interface MessageFacts {
  sender: string;
  recipients: string[];
  headers: HeaderField[];
  /** The message as received: CRLF line ends. */
  raw: Uint8Array;
}

/** One event of a synthetic session; its payload may depend on the recipients accepted so far. */
export interface SessionStep<K extends keyof ReceiveEvents = keyof ReceiveEvents> {
  event: K;
  /** For `onRcptTo`: the recipient this step offers. */
  recipient?: string;
  payload(accepted: readonly string[]): ReceiveEvents[K];
}

const SAMPLE_SENDER = 'sender@example.org';
const SAMPLE_RECIPIENTS = ['alice@example.com', 'bob@example.com'];

/** The session facts a client at a documentation address would have, with its EHLO name once given. */
export function sampleSession(helo?: string): SessionInfo {
  const session: SessionInfo = { id: 'sluice-agent-test-1', client: { address: '192.0.2.25', port: 49152 } };
  if (helo !== undefined) session.helo = helo;
  return session;
}

function envelope(sender: string, recipients: readonly string[]): EnvelopeInfo {
  return { sender, recipients: [...recipients], mailParams: { smtputf8: false } };
}

function sampleMessage(): MessageFacts {
  const text = [
    `From: Sender <${SAMPLE_SENDER}>`,
    `To: ${SAMPLE_RECIPIENTS.join(', ')}`,
    'Subject: Quarterly report',
    'Date: Mon, 02 Jun 2025 09:30:00 +0000',
    'Message-ID: <sample-1@example.org>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'Hello Alice and Bob,',
    '',
    'the report is attached in spirit.',
    '',
  ].join('\r\n');
  const raw = new TextEncoder().encode(text);
  return { sender: SAMPLE_SENDER, recipients: [...SAMPLE_RECIPIENTS], headers: parseHeaders(raw), raw };
}

/**
 * A representative payload for every receive event: one session from a client at 192.0.2.25 that
 * sends a small text message to two recipients. `wantsBody` adds the body to `onEndOfData`.
 */
export function samplePayloads(wantsBody = false): ReceiveEvents {
  const facts = sampleMessage();
  const s = sampleSession('mail.example.org');
  const env = envelope(facts.sender, facts.recipients);
  const endOfData: ReceiveEvents['onEndOfData'] = { session: s, envelope: env, headers: facts.headers, size: facts.raw.byteLength };
  if (wantsBody) endOfData.body = Buffer.from(facts.raw).toString('base64');
  return {
    onConnect: { session: sampleSession() },
    onHelo: { session: sampleSession(), name: 'mail.example.org' },
    onEhlo: { session: sampleSession(), name: 'mail.example.org' },
    onStartTls: { session: s },
    onAuth: { session: s, mechanism: 'PLAIN' },
    onEndOfAuthentication: { session: { ...s, user: 'sender' }, mechanism: 'PLAIN', user: 'sender', success: true },
    onMailFrom: { session: s, sender: facts.sender, params: { smtputf8: false } },
    onRcptTo: { session: s, sender: facts.sender, recipient: facts.recipients[0]!, params: {}, accepted: [] },
    onData: { session: s, envelope: env },
    onEndOfHeaders: { session: s, envelope: env, headers: facts.headers },
    onEndOfData: endOfData,
    onRset: { session: s },
    onNoop: { session: s },
    onHelp: { session: s },
    onReject: { session: s, command: 'RCPT TO:<nobody@example.com>', reply: { code: 550, enhanced: '5.1.1', text: 'No such user' } },
    onDisconnect: { session: s, reason: 'QUIT' },
  };
}

/**
 * The addresses of one address-list header value, in order: `<local@domain>` or a bare
 * `local@domain`, quoted display names ignored. Linear-time patterns.
 */
function addressesIn(value: string): string[] {
  const unquoted = value.replace(/"[^"]*"/g, ' ');
  return [...unquoted.matchAll(/<([^<>\s@]+@[^<>\s@]+)>|([^\s,;<>"()@]+@[^\s,;<>"()@]+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

/**
 * Reads an .eml file: line ends normalised to CRLF (as SMTP carries it), headers parsed as the
 * server parses them. The envelope sender is `from` if given, else the Return-Path, Sender or From
 * address; the recipients are `to` if given, else the To, Cc and Bcc addresses.
 */
export function messageFromEml(bytes: Uint8Array, overrides: { from?: string; to?: string[] } = {}): MessageFacts | { error: string } {
  const text = Buffer.from(bytes).toString('latin1').replace(/\r?\n/g, '\r\n');
  const raw = new Uint8Array(Buffer.from(text, 'latin1'));
  const headers = parseHeaders(raw);
  if (headers.length === 0) return { error: 'no header fields found (is this an RFC 5322 message?)' };
  const first = (name: string): string | undefined => {
    for (const h of headers) if (h.name.toLowerCase() === name) return addressesIn(h.value)[0];
    return undefined;
  };
  const sender = overrides.from ?? first('return-path') ?? first('sender') ?? first('from');
  if (sender === undefined) return { error: 'no sender: the message has no Return-Path, Sender or From address (pass --from)' };
  const recipients =
    overrides.to ?? headers.filter((h) => ['to', 'cc', 'bcc'].includes(h.name.toLowerCase())).flatMap((h) => addressesIn(h.value));
  if (recipients.length === 0) return { error: 'no recipients: the message has no To, Cc or Bcc address (pass --to)' };
  return { sender, recipients: [...new Set(recipients)], headers, raw };
}

/**
 * The events one SMTP session delivering `facts` raises, in order: onConnect, onEhlo, onMailFrom,
 * onRcptTo per recipient, onData, onEndOfHeaders, onEndOfData. Payloads after the recipients carry
 * only the recipients accepted so far; the body is included only when `wantsBody`.
 */
export function sessionForMessage(facts: MessageFacts, wantsBody: boolean): SessionStep[] {
  const helo = 'client.example.org';
  const s = sampleSession(helo);
  const mailParams = { size: facts.raw.byteLength, smtputf8: false };
  const env = (accepted: readonly string[]): EnvelopeInfo => ({ sender: facts.sender, recipients: [...accepted], mailParams });
  const steps: SessionStep[] = [
    { event: 'onConnect', payload: () => ({ session: sampleSession() }) },
    { event: 'onEhlo', payload: () => ({ session: sampleSession(), name: helo }) },
    { event: 'onMailFrom', payload: () => ({ session: s, sender: facts.sender, params: mailParams }) },
  ];
  for (const recipient of facts.recipients) {
    steps.push({ event: 'onRcptTo', recipient, payload: (accepted) => ({ session: s, sender: facts.sender, recipient, params: {}, accepted: [...accepted] }) });
  }
  const endOfData = (accepted: readonly string[]): ReceiveEvents['onEndOfData'] => {
    const payload: ReceiveEvents['onEndOfData'] = { session: s, envelope: env(accepted), headers: facts.headers, size: facts.raw.byteLength };
    if (wantsBody) payload.body = Buffer.from(facts.raw).toString('base64');
    return payload;
  };
  steps.push(
    { event: 'onData', payload: (accepted) => ({ session: s, envelope: env(accepted) }) },
    { event: 'onEndOfHeaders', payload: (accepted) => ({ session: s, envelope: env(accepted), headers: facts.headers }) },
    { event: 'onEndOfData', payload: endOfData },
  );
  return steps;
}
