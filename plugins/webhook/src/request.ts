/**
 * The HTTP request sluice/webhook sends for one mail item: a JSON document with the envelope, the
 * parsed headers and the whole message (base64), and the headers that go with it. Pure: no sandbox
 * APIs, so it runs (and is tested) anywhere.
 */
import type { DeliveryEvents, FetchInit } from 'sluice/sdk';

/** The agent's configuration, as its manifest's configSchema describes it. */
export interface WebhookConfig {
  /** Where to POST (http or https; its origin must be granted to the agent's `fetch`). */
  url: string;
  /** Sent as the `Authorization` header when set, e.g. `Bearer <token>`. */
  authorization?: string;
}

/** What the receiver gets as the request body. */
export interface WebhookDocument {
  /** The Sluice queue id of the message. */
  id: string;
  /** The name of the Sluice connector that routed the message here. */
  connector: string;
  envelope: DeliveryEvents['onDeliverMailItem']['item']['envelope'];
  /** The recipients this request delivers (a message split across next hops comes in several requests). */
  recipients: { address: string }[];
  headers: { name: string; value: string }[];
  /** Octets of the message. */
  size: number;
  /** The whole message (RFC 5322, CRLF line ends), base64. */
  message: string;
}

/** FNV-1a (32 bits) of `text` from `seed`, as 8 hex digits. Not for security: only to tell recipient sets apart. */
function fnv1a(text: string, seed: number): string {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/**
 * `<queue id>.<16 hex digits of the recipient set>`: the same for every retry of the same delivery,
 * different when one message is delivered in parts (recipients of several domains are several next
 * hops, so several requests). An idempotency key must not be reused for a different request.
 */
export function idempotencyKey(id: string, recipients: readonly string[]): string {
  const set = [...recipients].sort().join('\n');
  return `${id}.${fnv1a(set, 0x811c9dc5)}${fnv1a(set, 0x01000193)}`;
}

/** UTF-8 octets of `text`, without TextEncoder (the sandbox has none). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A surrogate pair is two code units for four octets: two each.
    bytes += c < 0x80 ? 1 : c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 2 : 3;
  }
  return bytes;
}

/** The request for one item; `body` is the message as base64 (the event's top-level `body`). */
export function webhookRequest(event: DeliveryEvents['onDeliverMailItem'], body: string, config: Readonly<WebhookConfig>): { init: Required<Pick<FetchInit, 'method' | 'headers' | 'body'>>; bytes: number } {
  const { item } = event;
  const document: WebhookDocument = {
    id: item.id,
    connector: event.connector,
    envelope: item.envelope,
    recipients: item.recipients.map((r) => ({ address: r.address })),
    headers: item.headers,
    size: item.size,
    message: body,
  };
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'idempotency-key': idempotencyKey(item.id, item.recipients.map((r) => r.address)),
  };
  if (config.authorization !== undefined) headers.authorization = config.authorization;
  const json = JSON.stringify(document);
  return { init: { method: 'POST', headers, body: json }, bytes: utf8Length(json) };
}
