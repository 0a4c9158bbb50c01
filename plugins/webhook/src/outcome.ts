/**
 * What sluice/webhook answers for the recipients of one item, from what became of its request:
 * the HTTP status table (which statuses deliver, which retry, which bounce with which SMTP code)
 * as data. Pure: no sandbox APIs.
 */
import type { DeliveryResult, RecipientAck } from 'sluice/sdk';

/** What happened to the request. */
export type RequestOutcome =
  | { kind: 'response'; status: number; text: string }
  /** The request did not complete: connection refused, TLS failure, the event's time budget, origin not granted. */
  | { kind: 'error'; message: string }
  /** Not sent: the JSON document is larger than a sandboxed request may be. */
  | { kind: 'too-large'; bytes: number; limit: number }
  /** Not sent: the server did not pass the message body (it must, for an agent whose manifest sets wantsBody). */
  | { kind: 'no-body' }
  /** Not sent: the admin enabled the agent without the fetch capability. */
  | { kind: 'no-fetch' };

type Answer = { status: 'delivered' } | { status: 'deferred'; reason: string } | { status: 'failed'; code: number; enhanced: string; reason: string };

/**
 * Permanent refusals: the receiver understood the request and will not take it, so a retry would
 * get the same answer. Any 4xx not listed here and not retried below is 550 5.7.1.
 */
const PERMANENT: Readonly<Record<number, { code: number; enhanced: string; what: string }>> = {
  400: { code: 554, enhanced: '5.6.0', what: 'refused the content' },
  413: { code: 552, enhanced: '5.3.4', what: 'refused the message as too large' },
  415: { code: 554, enhanced: '5.6.0', what: 'refused the content' },
  422: { code: 554, enhanced: '5.6.0', what: 'refused the content' },
};

/**
 * Retried: the receiver is busy, down, or we may have its credentials wrong (401 is an admin's fix
 * away, as Postfix soft-bounces a failed SMTP AUTH); 408 and 425 ask for a retry outright.
 */
const RETRY: ReadonlySet<number> = new Set([401, 408, 425, 429]);

/** Printable ASCII only, whitespace collapsed, at most `max` characters: a reason must fit a reply line. */
export function printable(text: string, max: number): string {
  const flat = text.replace(/[^ -~]+/g, ' ').replace(/ {2,}/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

function said(text: string): string {
  const shown = printable(text, 120);
  return shown === '' ? '' : `: ${shown}`;
}

function answerFor(outcome: RequestOutcome): Answer {
  switch (outcome.kind) {
    case 'no-body':
      return { status: 'deferred', reason: 'sluice/webhook was not given the message body; this server must pass it to agents whose manifest sets wantsBody' };
    case 'no-fetch':
      return { status: 'deferred', reason: "sluice/webhook needs the fetch capability: enable it with --grant fetch and the webhook URL's origin" };
    case 'too-large':
      return { status: 'failed', code: 552, enhanced: '5.3.4', reason: `message too large for the webhook: ${outcome.bytes} bytes of JSON, over the ${outcome.limit}-byte limit of an agent's request` };
    case 'error':
      return { status: 'deferred', reason: `webhook not reached: ${printable(outcome.message, 300) || 'unknown error'}` };
    case 'response':
      break;
  }
  const { status, text } = outcome;
  if (status >= 200 && status <= 299) return { status: 'delivered' };
  if (status >= 300 && status <= 399) return { status: 'deferred', reason: `webhook answered HTTP ${status}, a redirect, which is not followed: set config.url to the final URL` };
  const permanent = PERMANENT[status];
  if (permanent !== undefined) return { status: 'failed', code: permanent.code, enhanced: permanent.enhanced, reason: `webhook ${permanent.what} (HTTP ${status})${said(text)}` };
  if (status >= 400 && status <= 499 && !RETRY.has(status)) return { status: 'failed', code: 550, enhanced: '5.7.1', reason: `webhook refused the message (HTTP ${status})${said(text)}` };
  // 401, 408, 425, 429, 5xx, and anything outside the standard ranges: try again later.
  return { status: 'deferred', reason: `webhook answered HTTP ${status}${said(text)}` };
}

/** The same answer for every recipient: one request carries them all, so they share its fate. */
export function acksFor(recipients: readonly string[], outcome: RequestOutcome): DeliveryResult {
  const answer = answerFor(outcome);
  return { recipients: recipients.map((address): RecipientAck => ({ address, ...answer })) };
}
