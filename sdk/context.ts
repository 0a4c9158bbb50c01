/**
 * What a handler gets besides its event: `ctx`, built inside the agent's sandbox. `config`, `log` and
 * `remainingMs` are always there; `kv`, `dns` and `fetch` only when the admin granted them (otherwise
 * the property is `undefined`). Every capability call is bounded by the event's time budget.
 */

/**
 * Limits the runtime enforces on `ctx.kv`, in UTF-8 bytes.
 * @example
 * if (new TextEncoder().encode(value).length > KV_LIMITS.valueBytes) value = value.slice(0, 1000);
 */
export const KV_LIMITS = {
  /** A key: 1 to 256 bytes. */
  keyBytes: 256,
  /** A value: at most 64 KiB. */
  valueBytes: 64 * 1024,
  /** All live keys and values of one agent together. */
  storeBytes: 10 * 1024 * 1024,
} as const;

/**
 * Limits the runtime enforces on `ctx.log` and `ctx.fetch`.
 * @example
 * ctx.log.info(text.slice(0, CONTEXT_LIMITS.logMessageBytes));
 */
export const CONTEXT_LIMITS = {
  /** A log message longer than this is cut (with a trailing `…`). */
  logMessageBytes: 2048,
  /** Log lines per agent per event; further lines are counted and reported as one warning. */
  logLinesPerEvent: 50,
  /** A request body `ctx.fetch` sends. */
  fetchRequestBytes: 256 * 1024,
  /** A response body `ctx.fetch` reads; a longer one fails the call. */
  fetchResponseBytes: 1024 * 1024,
  /** Capability calls (kv, dns, fetch) one agent may have waiting at once. */
  callsInFlight: 16,
} as const;

/**
 * Makes every level of a type read-only, as `ctx.config` is deep-frozen.
 * @example
 * type Frozen = DeepReadonly<{ hosts: string[] }>; // { readonly hosts: readonly string[] }
 */
export type DeepReadonly<T> = T extends (infer U)[] ? readonly DeepReadonly<U>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/**
 * Structured fields of a log line: plain JSON data.
 * @example
 * const fields: LogFields = { recipient: event.recipient, score: 4.5 };
 */
export type LogFields = Record<string, unknown>;

/**
 * Log levels, lowest first.
 * @example
 * const level: LogLevel = 'warn';
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * The agent's log: lines go to the server's log, tagged with the agent id. At most
 * `CONTEXT_LIMITS.logLinesPerEvent` lines per event; messages are cut at 2 KiB.
 * @example
 * ctx.log.info('recipient refused', { recipient: event.recipient });
 */
export interface AgentLog {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/**
 * Options of `ctx.kv.set`.
 * @example
 * await ctx.kv.set('greylist:' + key, '1', { ttlMs: 60 * 60 * 1000 });
 */
export interface KvSetOptions {
  /** Milliseconds until the key expires; without it, the key stays until deleted. */
  ttlMs?: number;
}

/**
 * The agent's own persistent key-value store (granted `kv`): string keys and values, durable when
 * the promise resolves, kept across restarts. Limits are `KV_LIMITS`; a call over a limit rejects
 * with an Error that says which.
 * @example
 * const seen = await ctx.kv.get(event.sender);
 * if (seen === null) await ctx.kv.set(event.sender, String(Date.now()), { ttlMs: 86_400_000 });
 */
export interface AgentKv {
  /** The value, or `null` when the key is absent or expired. */
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options?: KvSetOptions): Promise<void>;
  /** True when the key existed. */
  delete(key: string): Promise<boolean>;
}

/**
 * DNS record types `ctx.dns.resolve` answers.
 * @example
 * const type: DnsRecordType = 'MX';
 */
export type DnsRecordType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'PTR';

/**
 * One MX record.
 * @example
 * const best: MxRecord = (await ctx.dns.resolve('example.com', 'MX'))[0];
 */
export interface MxRecord {
  exchange: string;
  priority: number;
}

/**
 * What `ctx.dns.resolve` returns per record type. TXT records come back with their character strings
 * joined; MX records sorted by priority.
 * @example
 * const spf: DnsAnswer['TXT'] = (await ctx.dns.resolve('example.com', 'TXT')).filter((t) => t.startsWith('v=spf1'));
 */
export interface DnsAnswer {
  A: string[];
  AAAA: string[];
  MX: MxRecord[];
  TXT: string[];
  PTR: string[];
}

/**
 * DNS lookups (granted `dns`). A name that does not exist, or has no record of the type, resolves
 * to `[]`; a server failure or the event's budget running out rejects. For PTR, `name` may be an
 * IP address (it is turned into its in-addr.arpa / ip6.arpa name).
 * @example
 * const listed = (await ctx.dns.resolve('2.0.0.127.zen.example.org', 'A')).length > 0;
 * const names = await ctx.dns.resolve(event.session.client.address, 'PTR');
 */
export interface AgentDns {
  resolve<T extends DnsRecordType>(name: string, type: T): Promise<DnsAnswer[T]>;
}

/**
 * A request `ctx.fetch` sends.
 * @example
 * const init: FetchInit = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ip }) };
 */
export interface FetchInit {
  /** GET (default), HEAD, POST, PUT, PATCH, DELETE or OPTIONS. */
  method?: string;
  headers?: Record<string, string>;
  /** Text body, at most `CONTEXT_LIMITS.fetchRequestBytes`; not allowed with GET or HEAD. */
  body?: string;
}

/**
 * What `ctx.fetch` answers: the status, the headers (lower-case names) and the body as text.
 * Redirects are not followed: a 3xx comes back as it is, with its `location` header.
 * @example
 * const res: FetchResult = await ctx.fetch('https://reputation.example/v1/ip/' + ip);
 * if (res.status === 200) score = JSON.parse(res.text).score;
 */
export interface FetchResult {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/**
 * HTTP requests (granted `fetch`), only to the origins the admin allowed, bounded by the event's
 * remaining budget.
 * @example
 * const res = await ctx.fetch('https://reputation.example/v1/ip/' + ip, { headers: { accept: 'application/json' } });
 */
export type AgentFetch = (url: string, init?: FetchInit) => Promise<FetchResult>;

/**
 * The second argument of every handler. `Config` is the type of the agent's configuration (as its
 * manifest's config schema describes it).
 * @example
 * export default defineReceiveAgent<{ blocked: string[] }>({
 *   async onMailFrom(event, ctx) {
 *     if (ctx.config.blocked.includes(event.sender)) return reject(550, '5.7.1', 'Sender blocked');
 *     const hits = Number((await ctx.kv?.get(event.sender)) ?? 0);
 *     await ctx.kv?.set(event.sender, String(hits + 1), { ttlMs: 3_600_000 });
 *     ctx.log.debug('sender seen', { sender: event.sender, hits, leftMs: ctx.remainingMs() });
 *   },
 * });
 */
export interface AgentContext<Config = unknown> {
  /** The agent's configuration, deep-frozen. */
  readonly config: DeepReadonly<Config>;
  readonly log: AgentLog;
  /** Milliseconds left of this event's time budget. */
  remainingMs(): number;
  /** Present only when `kv` is granted. */
  readonly kv?: AgentKv;
  /** Present only when `dns` is granted. */
  readonly dns?: AgentDns;
  /** Present only when `fetch` is granted. */
  readonly fetch?: AgentFetch;
}
