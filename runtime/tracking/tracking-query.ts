/**
 * What a tracking search asks for, checked once and compiled into a matcher: Message-ID exact (with or
 * without `<>`), addresses exact on the local part and case-insensitive on the domain, time range
 * inclusive. Pure: no files here.
 */
import { TRACKING_EVENTS, type TrackingEntry, type TrackingEvent } from './tracking-entry.ts';

export const DEFAULT_TRACKING_LIMIT = 100;
export const MAX_TRACKING_LIMIT = 1000;

export interface TrackingQuery {
  /** With or without `<>`. */
  messageId?: string;
  /** `''` (or `<>`) is the null sender. */
  sender?: string;
  /** Matches when any of an entry's recipients is this address. */
  recipient?: string;
  queueId?: string;
  event?: TrackingEvent;
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, inclusive. */
  to?: number;
  /** 1–1000, default 100; the newest `limit` entries are returned when more match. */
  limit?: number;
}

export interface TrackingResult {
  /** Oldest first. */
  entries: TrackingEntry[];
  /** More entries matched than `limit`; the oldest of them were left out. */
  truncated: boolean;
}

/** A query that cannot be run; `field` names the part of the query that is wrong. */
export class TrackingQueryError extends Error {
  readonly code = 'INVALID_TRACKING_QUERY';
  readonly field: string;
  /** What is wrong, without the field name. */
  readonly reason: string;
  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.name = 'TrackingQueryError';
    this.field = field;
    this.reason = reason;
  }
}

export interface CompiledQuery {
  from: number;
  to: number;
  limit: number;
  /** Cheap pre-check on the raw line: false means the entry cannot match, so it is not parsed. */
  mayMatch(line: string): boolean;
  matches(entry: TrackingEntry): boolean;
}

/** `<a@b>` → `a@b`. */
function unbracket(text: string): string {
  const t = text.trim();
  return t.startsWith('<') && t.endsWith('>') ? t.slice(1, -1).trim() : t;
}

/** The form addresses are compared in: local part as given, domain lower-cased. */
export function normalizeAddress(address: string): string {
  const a = unbracket(address);
  const at = a.lastIndexOf('@');
  return at === -1 ? a : `${a.slice(0, at)}@${a.slice(at + 1).toLowerCase()}`;
}

/** How a string appears inside a JSON-encoded line. */
const inJson = (text: string): string => JSON.stringify(text).slice(1, -1);

function text(q: Record<string, unknown>, field: string, allowEmpty: boolean): string | undefined {
  const value = q[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new TrackingQueryError(field, `expected a string, not ${typeof value}`);
  if (!allowEmpty && unbracket(value) === '') throw new TrackingQueryError(field, 'expected a non-empty value');
  return value;
}

function time(q: Record<string, unknown>, field: 'from' | 'to'): number | undefined {
  const value = q[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TrackingQueryError(field, 'expected epoch milliseconds');
  return value;
}

/** Checks a query and compiles it; throws {@link TrackingQueryError} naming the bad field. */
export function compileQuery(query: TrackingQuery): CompiledQuery {
  const q = query as Record<string, unknown>;
  const messageId = text(q, 'messageId', false);
  const sender = text(q, 'sender', true);
  const recipient = text(q, 'recipient', false);
  const queueId = text(q, 'queueId', false);
  const event = q.event;
  if (event !== undefined && !(TRACKING_EVENTS as readonly unknown[]).includes(event)) {
    throw new TrackingQueryError('event', `expected one of ${TRACKING_EVENTS.join(', ')}`);
  }
  const from = time(q, 'from') ?? -Infinity;
  const to = time(q, 'to') ?? Infinity;
  if (from > to) throw new TrackingQueryError('to', 'is before from');
  const limit = q.limit ?? DEFAULT_TRACKING_LIMIT;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_TRACKING_LIMIT) {
    throw new TrackingQueryError('limit', `expected a whole number from 1 to ${MAX_TRACKING_LIMIT}`);
  }

  const id = messageId === undefined ? undefined : unbracket(messageId);
  const from_ = sender === undefined ? undefined : normalizeAddress(sender);
  const rcpt = recipient === undefined ? undefined : normalizeAddress(recipient);
  const needles: string[] = [];
  if (queueId !== undefined) needles.push(inJson(queueId));
  if (id !== undefined) needles.push(inJson(id));
  if (event !== undefined) needles.push(`"event":"${event as string}"`);
  for (const address of [from_, rcpt]) {
    const local = address?.slice(0, Math.max(address.lastIndexOf('@'), 0));
    if (local) needles.push(inJson(local));
  }

  return {
    from,
    to,
    limit,
    mayMatch: (line) => needles.every((n) => line.includes(n)),
    matches: (e) =>
      e.at >= from &&
      e.at <= to &&
      (event === undefined || e.event === event) &&
      (queueId === undefined || e.queueId === queueId) &&
      (id === undefined || (e.messageId !== undefined && unbracket(e.messageId) === id)) &&
      (from_ === undefined || (e.sender !== undefined && normalizeAddress(e.sender) === from_)) &&
      (rcpt === undefined || (e.recipients?.some((r) => normalizeAddress(r) === rcpt) ?? false)),
  };
}
