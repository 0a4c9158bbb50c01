/**
 * What one SMTP transaction meant for each recipient: nodemailer's result or error (plain data)
 * mapped to RecipientOutcome, and whether a failure was the host's (try the next MX) or the
 * transaction's.
 */
import type { RecipientOutcome } from './connector.ts';
import { isPermanentReply, normalizeReply } from './smtp-reply.ts';

/** A recipient of the transaction: the caller's index and the address as nodemailer sends it. */
export interface TransactionRecipient {
  index: number;
  address: string;
}

export interface RejectedRecipient {
  recipient?: string;
  response?: string;
}

/** The parts of nodemailer's send result that matter here. */
export interface SendReport {
  accepted: string[];
  rejectedErrors?: RejectedRecipient[];
  /** The reply to the end of DATA. */
  response: string;
}

/** The parts of a nodemailer error that matter here. */
export interface SendFailure {
  message: string;
  code?: string;
  /** ECONNREFUSED and such, when nodemailer replaced `code` with its own. */
  originalCode?: string;
  command?: string;
  response?: string;
  responseCode?: number;
  rejectedErrors?: RejectedRecipient[];
}

/**
 * How far the envelope got before a failure, read from the envelope object nodemailer filled in
 * (see smtp-host-pool.ts); absent when the transaction never started.
 */
export interface EnvelopeProgress {
  accepted?: string[];
  rejectedErrors?: RejectedRecipient[];
}

const TRANSACTION_COMMANDS = new Set(['MAIL FROM', 'RCPT TO', 'DATA']);
const SESSION_CODES = new Set(['ECONNECTION', 'ESOCKET', 'ETIMEDOUT', 'ETLS', 'EPROTOCOL', 'EAUTH', 'ENOAUTH', 'EDNS', 'EPROXY']);
/** A failed TLS handshake reaches nodemailer as a socket error with the TLS library's code (DEPTH_ZERO_SELF_SIGNED_CERT, ERR_SSL_…). */
const TLS_ERROR = /CERT|SSL|TLS|SIGNATURE|^EPROTO$/;

function byReply(index: number, reply: string, remoteMta: string): RecipientOutcome {
  return isPermanentReply(reply) ? { index, outcome: 'failed', reply, remoteMta } : { index, outcome: 'deferred', reply, remoteMta };
}

function rejectedBy(list: readonly RejectedRecipient[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const r of list ?? []) if (r.recipient !== undefined) map.set(r.recipient, normalizeReply(r.response ?? '', 451));
  return map;
}

/** Outcomes of a transaction that reached the end of DATA. */
export function outcomesOfReport(recipients: readonly TransactionRecipient[], report: SendReport, remoteMta: string): RecipientOutcome[] {
  const rejected = rejectedBy(report.rejectedErrors);
  const accepted = new Set(report.accepted);
  const detail = normalizeReply(report.response, 250);
  return recipients.map((r): RecipientOutcome => {
    const reply = rejected.get(r.address);
    if (reply !== undefined) return byReply(r.index, reply, remoteMta);
    if (accepted.has(r.address)) return { index: r.index, outcome: 'delivered', detail, remoteMta };
    return { index: r.index, outcome: 'deferred', reply: '451 4.3.0 the remote server gave no reply for this recipient', remoteMta };
  });
}

/**
 * True when the failure happened before a transaction began — no connection, no or a refusing
 * greeting, EHLO, STARTTLS or AUTH failed: the message may go to the next host. A connection
 * lost during a transaction is not: the peer may have taken the message.
 */
export function isSessionFailure(failure: SendFailure, progress: EnvelopeProgress | undefined): boolean {
  if (progress?.accepted !== undefined) return false;
  if (failure.command !== undefined && TRANSACTION_COMMANDS.has(failure.command)) return false;
  return failure.code !== undefined && SESSION_CODES.has(failure.code);
}

/** The reply for a host that could not be used, e.g. `451 4.4.1 connection refused by mx.example.com[192.0.2.1]:25`. */
export function sessionFailureReply(failure: SendFailure, label: string): string {
  const response = failure.response === undefined ? undefined : normalizeReply(failure.response, 421);
  const cause = failure.originalCode ?? failure.code;
  if (cause === 'ECONNREFUSED') return `451 4.4.1 connection refused by ${label}`;
  if (failure.code === 'ETLS' || TLS_ERROR.test(failure.originalCode ?? '')) {
    return `451 4.7.5 TLS with ${label} failed: ${response ?? failure.message}`.slice(0, 1000);
  }
  if (failure.code === 'EAUTH' || failure.code === 'ENOAUTH') return `451 4.7.8 authentication at ${label} failed: ${response ?? failure.message}`.slice(0, 1000);
  if (failure.code === 'ETIMEDOUT') return `451 4.4.1 ${label} did not answer in time (${failure.message})`.slice(0, 1000);
  if (response !== undefined) return `451 4.4.1 ${label} refused the session: ${response}`.slice(0, 1000);
  return `451 4.4.1 cannot talk to ${label}: ${cause ?? 'error'} ${failure.message}`.replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, 1000);
}

/** Outcomes of a transaction that failed after it began (MAIL, RCPT, DATA or the connection in between). */
export function outcomesOfFailure(
  recipients: readonly TransactionRecipient[],
  failure: SendFailure,
  progress: EnvelopeProgress | undefined,
  remoteMta: string,
): RecipientOutcome[] {
  // Recipients refused at RCPT keep their own reply, whatever happened to the others afterwards;
  // after a refused MAIL FROM their (pipelined) RCPT replies only echo it ("503 need MAIL").
  const rejected = failure.command === 'MAIL FROM' ? new Map<string, string>() : rejectedBy(failure.rejectedErrors ?? progress?.rejectedErrors);
  let reply: string;
  if (failure.response !== undefined) reply = normalizeReply(failure.response, 451);
  else if (failure.code === 'EMESSAGE' && failure.command === 'MAIL FROM') reply = `552 5.3.4 ${failure.message}`.slice(0, 1000);
  else if (failure.code === 'EENVELOPE') reply = `553 5.1.3 ${failure.message}`.replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, 1000);
  else if (SESSION_CODES.has(failure.code ?? '')) reply = `451 4.4.2 connection to ${remoteMta} lost during the transaction: ${failure.message}`.replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, 1000);
  else reply = `451 4.3.0 sending failed: ${failure.code ?? 'error'} ${failure.message}`.replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, 1000);
  // A 2xx or 3xx that nodemailer reports as an error (e.g. DATA answered 250) is not success here.
  if (/^[23]/.test(reply)) reply = `451 4.5.0 unexpected reply: ${reply}`;
  return recipients.map((r) => byReply(r.index, rejected.get(r.address) ?? reply, remoteMta));
}
