/** `sluice track …`: searches message tracking over the API and prints what happened to each message, oldest first. */
import { TRACKING_EVENTS, type TrackingEntry } from '../tracking/tracking-entry.ts';
import { MAX_TRACKING_LIMIT, type TrackingResult } from '../tracking/tracking-query.ts';
import { parseDuration, parseTimestamp } from '../tracking/tracking-time.ts';
import type { ApiClient } from './api-client.ts';
import { UsageError, type AdminIo } from './admin-context.ts';
import { formatTable } from './table.ts';

export const TRACK_USAGE = `Usage: sluice track [options]

Searches message tracking: every step a message took (receive, agents, routing, delivery, DSNs),
oldest first. With no option, the newest 100 entries.

  --message-id ID     the Message-ID header, with or without <>
  --sender A          the envelope sender (<> or "" for the null sender)
  --recipient A       any one of the recipients
  --queue-id ID
  --event E           ${TRACKING_EVENTS.join(', ')}
  --since 2h|ISO      from that long ago (s, m, h, d, w), or from a time: 2024-05-01T10:00:00Z, epoch ms
  --until 2h|ISO      up to that long ago, or up to a time
  --limit N           at most N entries, the newest (1-${MAX_TRACKING_LIMIT}, default 100)

Options: --api HOST:PORT (default 127.0.0.1:8025 or $SLUICE_API), --token T | --token-file F
(default $SLUICE_TOKEN, then $SLUICE_DATA/admin.token or ./sluice-data/admin.token), --json
`;

export const TRACK_OPTIONS = {
  'message-id': { type: 'string' },
  sender: { type: 'string' },
  recipient: { type: 'string' },
  'queue-id': { type: 'string' },
  event: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  limit: { type: 'string' },
} as const;

export interface TrackArgs {
  positionals: string[];
  values: {
    'message-id'?: string;
    sender?: string;
    recipient?: string;
    'queue-id'?: string;
    event?: string;
    since?: string;
    until?: string;
    limit?: string;
    json?: boolean;
  };
}

/** `2h` (that long before `now`) or a timestamp → epoch ms. */
function parseWhen(option: string, text: string, now: number): number {
  const ago = parseDuration(text);
  if (ago !== null) return now - ago;
  const at = parseTimestamp(text);
  if (at !== null) return at;
  throw new UsageError(`--${option} ${JSON.stringify(text)}: expected a duration such as 2h or 3d, an ISO 8601 time with a zone (2024-05-01T10:00:00Z), or epoch ms`);
}

/** The API query string for the command line's options. */
export function trackQuery(values: TrackArgs['values'], now: number): URLSearchParams {
  const q = new URLSearchParams();
  if (values['message-id'] !== undefined) q.set('messageId', values['message-id']);
  if (values.sender !== undefined) q.set('sender', values.sender.trim() === '' ? '<>' : values.sender);
  if (values.recipient !== undefined) q.set('recipient', values.recipient);
  if (values['queue-id'] !== undefined) q.set('queueId', values['queue-id']);
  if (values.event !== undefined) {
    const event = values.event.toUpperCase();
    if (!(TRACKING_EVENTS as readonly string[]).includes(event)) throw new UsageError(`--event ${JSON.stringify(values.event)}: expected one of ${TRACKING_EVENTS.join(', ')}`);
    q.set('event', event);
  }
  const since = values.since === undefined ? undefined : parseWhen('since', values.since, now);
  const until = values.until === undefined ? undefined : parseWhen('until', values.until, now);
  if (since !== undefined && until !== undefined && until < since) throw new UsageError('--until is before --since');
  if (since !== undefined) q.set('from', String(since));
  if (until !== undefined) q.set('to', String(until));
  if (values.limit !== undefined) {
    if (!/^\d{1,7}$/.test(values.limit) || Number(values.limit) < 1 || Number(values.limit) > MAX_TRACKING_LIMIT) {
      throw new UsageError(`--limit ${JSON.stringify(values.limit)}: expected a whole number from 1 to ${MAX_TRACKING_LIMIT}`);
    }
    q.set('limit', values.limit);
  }
  return q;
}

function when(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** `alice@example.net → bob@example.com,carol@example.com` (at most three recipients, then `+N`). */
function envelope(e: TrackingEntry): string {
  const from = e.sender === undefined ? '' : e.sender === '' ? '<>' : e.sender;
  const rcpts = e.recipients ?? [];
  const to = rcpts.slice(0, 3).join(',') + (rcpts.length > 3 ? ` +${rcpts.length - 3}` : '');
  if (from === '' && to === '') return '-';
  return `${from || '?'} → ${to || '?'}`;
}

/** The reply, or for an agent its verdict; detail facts after it. */
function outcome(e: TrackingEntry): string {
  const parts: string[] = [];
  if (e.agent !== undefined) {
    parts.push(`${e.agent}${e.agentEvent ? ` ${e.agentEvent}` : ''}: ${e.verdict ?? '?'}${e.ms !== undefined ? ` (${e.ms} ms)` : ''}`);
  }
  if (e.reply !== undefined) parts.push(e.reply);
  if (e.detail !== undefined) parts.push(Object.entries(e.detail).map(([k, v]) => `${k}=${v}`).join(' '));
  // One entry, one row: a multi-line SMTP reply is shown on one line.
  return parts.join('; ').replace(/[\r\n]+/g, ' ') || '-';
}

/** Prints the matching entries as a table (or JSON); returns the exit code. */
export async function trackCommand(args: TrackArgs, client: () => Promise<ApiClient>, io: AdminIo, now: () => number = Date.now): Promise<number> {
  if (args.positionals.length > 0) {
    throw new UsageError(`sluice track takes options only, not ${JSON.stringify(args.positionals[0])} (e.g. --message-id ID, --recipient A)\n${TRACK_USAGE}`);
  }
  const query = trackQuery(args.values, now()).toString();
  const result = (await (await client()).request('GET', `/v1/tracking${query === '' ? '' : `?${query}`}`)) as TrackingResult;
  if (args.values.json === true) {
    io.stdout(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  if (result.entries.length === 0) {
    io.stdout('no matching tracking entries\n');
    return 0;
  }
  const rows = result.entries.map((e) => [when(e.at), e.event, e.queueId, envelope(e), e.nextHop ?? '-', outcome(e)]);
  io.stdout(formatTable(['TIME', 'EVENT', 'QUEUE ID', 'SENDER → RECIPIENTS', 'NEXT HOP', 'REPLY'], rows));
  if (result.truncated) io.stdout(`(the newest ${result.entries.length} shown; older entries matched too: narrow the search or raise --limit)\n`);
  return 0;
}
