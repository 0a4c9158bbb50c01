/**
 * Verdict helpers for agent authors: small functions that build the plain data the runtime expects.
 * They carry no dependencies, so they cost nothing in an agent bundle.
 */
import type { DeliveryResult, HeaderEdit, ReceiveVerdict, RecipientAck, RecipientEdit, RoutingVerdict } from './verdict-schema.ts';

export type { DeliveryResult, HeaderEdit, ReceiveVerdict, RecipientAck, RecipientEdit, RoutingVerdict } from './verdict-schema.ts';

/**
 * Let the command (or message) through, optionally editing headers (onEndOfHeaders, onEndOfData).
 * @example
 * return accept([addHeader('X-Scanned-By', 'acme/scanner 1.2.0')]);
 */
export function accept(headers?: HeaderEdit[]): Extract<ReceiveVerdict, { verdict: 'continue' }> {
  return headers === undefined ? { verdict: 'continue' } : { verdict: 'continue', headers };
}

/**
 * Refuse permanently: the client gets `code enhanced text` (5xx).
 * @example
 * return reject(550, '5.7.1', 'Sender blocked by policy');
 */
export function reject(code: number, enhanced: string, text: string): Extract<ReceiveVerdict, { verdict: 'reject' }> {
  return { verdict: 'reject', code, enhanced, text };
}

/**
 * Refuse for now: the client gets `code enhanced text` (4xx) and may retry.
 * @example
 * return tempfail(451, '4.7.1', 'Greylisted, try again in 5 minutes');
 */
export function tempfail(code: number, enhanced: string, text: string): Extract<ReceiveVerdict, { verdict: 'tempfail' }> {
  return { verdict: 'tempfail', code, enhanced, text };
}

/**
 * Close the connection with `421` (and `text`, if given).
 * @example
 * if (event.session.client.address.startsWith('203.0.113.')) return disconnect('Go away');
 */
export function disconnect(text?: string): Extract<ReceiveVerdict, { verdict: 'disconnect' }> {
  return text === undefined ? { verdict: 'disconnect' } : { verdict: 'disconnect', text };
}

/**
 * Header edits, for `accept([...])` and routing `proceed({ headers })`.
 * @example
 * accept([addHeader('X-Tag', 'a'), setHeader('Subject', '[ext] hello'), removeHeader('X-Internal')]);
 */
export function addHeader(name: string, value: string): HeaderEdit {
  return { op: 'add', name, value };
}

/**
 * Replace every occurrence of a header (or add it if absent).
 * @example
 * setHeader('X-Spam-Status', 'No');
 */
export function setHeader(name: string, value: string): HeaderEdit {
  return { op: 'set', name, value };
}

/**
 * Remove every occurrence of a header.
 * @example
 * removeHeader('X-Originating-IP');
 */
export function removeHeader(name: string): HeaderEdit {
  return { op: 'remove', name };
}

/**
 * Routing: continue to the next stage, with optional header and recipient edits.
 * @example
 * return proceed({ recipients: [{ op: 'override', address: 'ceo@example.com', route: 'secure-gateway' }] });
 */
export function proceed(edits: { headers?: HeaderEdit[]; recipients?: RecipientEdit[]; body?: string } = {}): Extract<RoutingVerdict, { verdict: 'continue' }> {
  return { verdict: 'continue', ...edits };
}

/**
 * Routing: a recipient edit that delivers to `to` instead of `address`, keeping its NOTIFY and ORCPT.
 * @example
 * return proceed({ recipients: [rewrite('old@example.com', 'new@example.com')] });
 */
export function rewrite(address: string, to: string): RecipientEdit {
  return { op: 'rewrite', address, to };
}

/**
 * Routing: a recipient edit that splits `addresses` off into a copy of the message of their own,
 * categorized again from the start (so each copy can get its own edits and routes).
 * @example
 * return proceed({ recipients: [fork('legal@example.com')] });
 */
export function fork(...addresses: string[]): RecipientEdit {
  return { op: 'fork', addresses };
}

/**
 * Routing: return the message to its last committed state and try again after `delayMs`.
 * @example
 * return defer(60_000, 'Reputation service unavailable');
 */
export function defer(delayMs: number, reason: string): Extract<RoutingVerdict, { verdict: 'defer' }> {
  return { verdict: 'defer', delayMs, reason };
}

/**
 * Routing: drop the message silently (no delivery, no DSN); recorded in message tracking.
 * @example
 * return drop('Duplicate of a message already delivered');
 */
export function drop(reason: string): Extract<RoutingVerdict, { verdict: 'delete' }> {
  return { verdict: 'delete', reason };
}

/**
 * Routing: hold the message in quarantine for an administrator.
 * @example
 * return quarantine('Attachment type not allowed');
 */
export function quarantine(reason: string): Extract<RoutingVerdict, { verdict: 'quarantine' }> {
  return { verdict: 'quarantine', reason };
}

/**
 * Delivery: acknowledgements for the recipients of one mail item.
 * @example
 * return acks(delivered('a@example.com'), deferred('b@example.com', 'mailbox busy'), failed('c@example.com', 550, '5.1.1', 'no such user'));
 */
export function acks(...recipients: RecipientAck[]): DeliveryResult {
  return { recipients };
}

/** @example delivered('a@example.com') */
export function delivered(address: string): RecipientAck {
  return { address, status: 'delivered' };
}

/** @example deferred('b@example.com', 'remote system busy') */
export function deferred(address: string, reason: string): RecipientAck {
  return { address, status: 'deferred', reason };
}

/** @example failed('c@example.com', 550, '5.1.1', 'no such user') */
export function failed(address: string, code: number, enhanced: string, reason: string): RecipientAck {
  return { address, status: 'failed', code, enhanced, reason };
}
