/** `sluice queue …`: queues and their messages over the API; show, export, retry, suspend, resume, delete, release. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MessageSummary, QueueSummary } from '../pipeline/queue-admin.ts';
import { QUEUE_ID_PATTERN, type MessageWithTracking } from '../api/queue-schemas.ts';
import type { TrackingEntry } from '../tracking/tracking-entry.ts';
import type { ApiClient, FetchFn } from './api-client.ts';
import { UsageError, type AdminIo } from './admin-context.ts';
import { formatTable } from './table.ts';

export const QUEUE_USAGE = `Usage: sluice queue <command> [options]

  list                                    queues: submission, each next hop, poison, quarantine
  show <queue> [--limit N] [--offset N]   messages in a queue, oldest first (e.g. maildir:example.com)
  message <id>                            envelope, per-recipient status, tracking history
  export <id> [--out FILE]                the raw message, to standard output or FILE
  retry <id> | --queue <queue>            try a message, or every message of a queue, now
  suspend <queue>                         stop delivering to a next hop until resumed
  resume <queue>                          deliver to it again, retrying its messages now
  delete <id> [--ndr]                     delete a message; --ndr sends the sender a failure report
  release <id>                            release a poison or quarantined message

Options: --api HOST:PORT (default 127.0.0.1:8025 or $SLUICE_API), --token T | --token-file F
(default $SLUICE_TOKEN, then $SLUICE_DATA/admin.token or ./sluice-data/admin.token), --json
`;

export const QUEUE_OPTIONS = {
  limit: { type: 'string' },
  offset: { type: 'string' },
  out: { type: 'string' },
  queue: { type: 'string' },
  ndr: { type: 'boolean' },
} as const;

/** Which of {@link QUEUE_OPTIONS} each subcommand takes. */
export const QUEUE_ALLOWED: Record<string, readonly string[]> = { show: ['limit', 'offset'], export: ['out'], retry: ['queue'], delete: ['ndr'] };

export interface QueueArgs {
  positionals: string[];
  values: { limit?: string; offset?: string; out?: string; queue?: string; ndr?: boolean; json?: boolean };
}

/** Admin output plus a byte sink: an exported message is bytes in whatever charset it was sent in. */
export interface QueueIo extends AdminIo {
  /** Writes bytes unchanged to standard output; without it, export writes the message as UTF-8 text or refuses. */
  stdoutBytes?(bytes: Uint8Array): void;
}

/** Connects with a fetch of the caller's choosing (for the raw message, whose bytes the JSON client does not keep). */
export type ConnectWith = (fetchFn: FetchFn) => Promise<ApiClient>;

function when(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

const oneLine = (text: string): string => text.replace(/[\r\n]+/g, ' ');

function messageId(id: string | undefined): string {
  if (id === undefined) throw new UsageError('expected a message id (the queue id from "queued as …")');
  if (!QUEUE_ID_PATTERN.test(id)) throw new UsageError(`${JSON.stringify(id)} is not a queue id: expected 8 to 40 letters and digits`);
  return `/v1/messages/${id}`;
}

function queuePath(queue: string | undefined): string {
  if (queue === undefined || queue === '') throw new UsageError('expected a queue name: submission, poison, quarantine or connector:destination (e.g. maildir:example.com)');
  return `/v1/queues/${encodeURIComponent(queue)}`;
}

function count(option: 'limit' | 'offset', text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`--${option} ${JSON.stringify(text)}: expected a whole number from ${min} to ${max}`);
  return Number(text);
}

function need(positionals: string[], n: number, usage: string): void {
  if (positionals.length !== n) throw new UsageError(`expected: sluice queue ${usage}`);
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

function queuesTable(queues: QueueSummary[]): string {
  if (queues.length === 0) return 'the queue is empty\n';
  const rows = queues.map((q) => [q.queue, q.kind, q.state, String(q.messages), String(q.recipients), when(q.nextRetryAt), oneLine(q.lastError ?? '-')]);
  return formatTable(['QUEUE', 'KIND', 'STATE', 'MESSAGES', 'RECIPIENTS', 'NEXT RETRY', 'LAST ERROR'], rows);
}

function messagesTable(queue: string, page: { total: number; messages: MessageSummary[] }, offset: number): string {
  if (page.total === 0) return `no messages in ${queue}\n`;
  if (page.messages.length === 0) return `${queue} holds ${plural(page.total, 'message')}; none from --offset ${offset}\n`;
  const rows = page.messages.map((m) => {
    const to = m.recipients.slice(0, 3).join(',') + (m.recipients.length > 3 ? ` +${m.recipients.length - 3}` : '');
    return [m.id, when(m.receivedAt), m.sender === '' ? '<>' : m.sender, to, String(m.size), String(m.attempts), when(m.nextAttemptAt), oneLine(m.hold ? `${m.hold.kind}: ${m.hold.reason}` : (m.lastReply ?? '-'))];
  });
  const table = formatTable(['ID', 'RECEIVED', 'SENDER', 'RECIPIENTS', 'SIZE', 'ATTEMPTS', 'NEXT ATTEMPT', 'LAST REPLY'], rows);
  const shown = page.messages.length;
  if (offset === 0 && shown === page.total) return table;
  const more = offset + shown < page.total ? `; more with --offset ${offset + shown}` : '';
  return `${table}(messages ${offset + 1}-${offset + shown} of ${page.total}${more})\n`;
}

/** The reply, or for an agent its verdict, with detail facts after it. */
function entryOutcome(e: TrackingEntry): string {
  const parts: string[] = [];
  if (e.agent !== undefined) parts.push(`${e.agent}${e.agentEvent ? ` ${e.agentEvent}` : ''}: ${e.verdict ?? '?'}`);
  if (e.reply !== undefined) parts.push(e.reply);
  if (e.detail !== undefined) parts.push(Object.entries(e.detail).map(([k, v]) => `${k}=${v}`).join(' '));
  return oneLine(parts.join('; ')) || '-';
}

function showMessage(m: MessageWithTracking): string {
  const c = m.client;
  const facts: [string, string][] = [
    ['id', m.id],
    ['sender', m.sender === '' ? '<>' : m.sender],
    ['recipients', m.recipients.join(', ')],
    ['received', when(m.receivedAt)],
    ['size', `${m.size} bytes`],
    ['client', `${c.address} (helo ${c.helo}${c.tls ? ', TLS' : ''}${c.user !== undefined ? `, user ${c.user}` : ''})`],
    ['stage', m.stage],
    ['queues', m.queues.join(', ') || '-'],
    ['attempts', String(m.attempts)],
    ['next attempt', when(m.nextAttemptAt)],
    ...(m.hold ? ([['held', `${m.hold.kind} since ${when(m.hold.at)}: ${m.hold.reason}`]] as [string, string][]) : []),
    ...(m.envid !== undefined ? ([['envid', m.envid]] as [string, string][]) : []),
    ...(m.ret !== undefined ? ([['ret', m.ret]] as [string, string][]) : []),
  ];
  const width = Math.max(...facts.map(([k]) => k.length));
  let out = facts.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}\n`).join('');
  const rows = m.recipientStatus.map((r) => [r.address + (r.original !== undefined ? ` (for ${r.original})` : ''), r.status, r.nextHop ?? '-', when(r.at), oneLine(r.reply ?? '-')]);
  out += `\n${formatTable(['RECIPIENT', 'STATUS', 'NEXT HOP', 'AT', 'REPLY'], rows)}`;
  if (m.tracking === null) return `${out}\ntracking: not kept on this server\n`;
  if (m.tracking.length === 0) return `${out}\ntracking: no entries\n`;
  const history = m.tracking.map((e) => [when(e.at), e.event, (e.recipients ?? []).join(',') || '-', e.nextHop ?? '-', entryOutcome(e)]);
  return `${out}\n${formatTable(['TIME', 'EVENT', 'RECIPIENTS', 'NEXT HOP', 'REPLY'], history)}`;
}

/**
 * The raw message's bytes. ApiClient reads every body as text for JSON; a stored message may be
 * 8-bit in any charset, so the fetch under this one client keeps a successful answer's bytes
 * and hands the client an empty body. Problems pass through untouched, so they still throw ApiError.
 */
async function fetchRaw(connectWith: ConnectWith, io: AdminIo, apiPath: string): Promise<Uint8Array> {
  const inner: FetchFn = io.fetch ?? fetch;
  let kept: Uint8Array | undefined;
  const client = await connectWith(async (input, init) => {
    const res = await inner(input, init);
    if (!res.ok) return res;
    kept = new Uint8Array(await res.arrayBuffer());
    return new Response(null, { status: res.status, headers: res.headers });
  });
  await client.request('GET', apiPath);
  if (kept === undefined) throw new Error(`the API answered GET ${apiPath} without a body`);
  return kept;
}

function writeStdout(bytes: Uint8Array, io: QueueIo): void {
  if (io.stdoutBytes !== undefined) {
    io.stdoutBytes(bytes);
    return;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError('export: the message is not UTF-8 text and this output takes text only; write it to a file with --out FILE');
  }
  io.stdout(text);
}

/** Runs one `queue` subcommand; returns the exit code (API errors are thrown to the caller). */
export async function queueCommand(sub: string | undefined, args: QueueArgs, client: () => Promise<ApiClient>, io: QueueIo, connectWith: ConnectWith): Promise<number> {
  const [target] = args.positionals;
  const json = args.values.json === true;
  const print = (value: unknown, human: string): void => io.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : human);
  switch (sub) {
    case 'list': {
      need(args.positionals, 0, 'list');
      const result = (await (await client()).request('GET', '/v1/queues')) as { queues: QueueSummary[] };
      print(result, queuesTable(result.queues));
      return 0;
    }
    case 'show': {
      need(args.positionals, 1, 'show <queue> [--limit N] [--offset N]');
      const base = queuePath(target);
      const limit = count('limit', args.values.limit, 1, 1000);
      const offset = count('offset', args.values.offset, 0, 1_000_000_000) ?? 0;
      const q = new URLSearchParams();
      if (limit !== undefined) q.set('limit', String(limit));
      if (offset !== 0) q.set('offset', String(offset));
      const query = q.toString();
      const page = (await (await client()).request('GET', `${base}/messages${query === '' ? '' : `?${query}`}`)) as { total: number; messages: MessageSummary[] };
      print(page, messagesTable(target!, page, offset));
      return 0;
    }
    case 'message': {
      need(args.positionals, 1, 'message <id>');
      const m = (await (await client()).request('GET', messageId(target))) as MessageWithTracking;
      print(m, showMessage(m));
      return 0;
    }
    case 'export': {
      need(args.positionals, 1, 'export <id> [--out FILE]');
      if (json) throw new UsageError('--json does not apply to "queue export": it writes the message itself');
      const bytes = await fetchRaw(connectWith, io, `${messageId(target)}/raw`);
      if (args.values.out === undefined) {
        writeStdout(bytes, io);
        return 0;
      }
      const file = path.resolve(io.cwd, args.values.out);
      try {
        await writeFile(file, bytes);
      } catch (error) {
        throw new UsageError(`--out: cannot write ${file}: ${(error as { code?: string }).code ?? (error as Error).message}`);
      }
      io.stdout(`wrote ${target} (${plural(bytes.byteLength, 'byte')}) to ${file}\n`);
      return 0;
    }
    case 'retry': {
      const queue = args.values.queue;
      if (queue !== undefined) {
        need(args.positionals, 0, 'retry <id> | --queue <queue> (not both)');
        const result = (await (await client()).request('POST', `${queuePath(queue)}/retry`, { json: {} })) as { retried: number };
        print(result, `${plural(result.retried, 'message')} in ${queue} due now\n`);
        return 0;
      }
      need(args.positionals, 1, 'retry <id> | --queue <queue>');
      await (await client()).request('POST', `${messageId(target)}/retry`, { json: {} });
      print({ retried: target }, `${target} is due now\n`);
      return 0;
    }
    case 'suspend': {
      need(args.positionals, 1, 'suspend <queue>');
      const q = (await (await client()).request('POST', `${queuePath(target)}/suspend`, { json: {} })) as QueueSummary;
      print(q, `suspended ${q.queue} (${plural(q.messages, 'message')} waiting; resume with: sluice queue resume ${q.queue})\n`);
      return 0;
    }
    case 'resume': {
      need(args.positionals, 1, 'resume <queue>');
      const result = (await (await client()).request('POST', `${queuePath(target)}/resume`, { json: {} })) as { retried: number };
      print(result, `resumed ${target}; ${plural(result.retried, 'message')} due now\n`);
      return 0;
    }
    case 'delete': {
      need(args.positionals, 1, 'delete <id> [--ndr]');
      const ndr = args.values.ndr === true;
      await (await client()).request('DELETE', `${messageId(target)}${ndr ? '?ndr=true' : ''}`);
      print({ deleted: target, ndr }, ndr ? `deleted ${target}; its sender gets a non-delivery report\n` : `deleted ${target} (no report sent)\n`);
      return 0;
    }
    case 'release': {
      need(args.positionals, 1, 'release <id>');
      await (await client()).request('POST', `${messageId(target)}/release`, { json: {} });
      print({ released: target }, `released ${target} into the pipeline\n`);
      return 0;
    }
    default:
      throw new UsageError(sub === undefined ? `missing command\n${QUEUE_USAGE}` : `unknown command "queue ${sub}"\n${QUEUE_USAGE}`);
  }
}
