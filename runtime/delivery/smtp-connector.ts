/**
 * Outbound SMTP: delivers a next hop's items to its smart hosts, the host it names, or its MX
 * hosts (RFC 5321 §5.1 fallback to the next host when one cannot be used), through nodemailer's
 * pooled SMTP transport, one pool per remote host kept across deliveries.
 */
import type { ConnectorConfig } from '../config/schema.ts';
import type { LogFn } from '../log/logger.ts';
import type { MxHost, MxResolution, MxResolver } from '../routing/mx-resolver.ts';
import type { Connector, ConnectorItem, NextHop, RecipientOutcome } from './connector.ts';
import { SmtpHostPool, type HostPoolSettings, type OutboundEnvelope } from './smtp-host-pool.ts';
import { isSessionFailure, outcomesOfFailure, outcomesOfReport, sessionFailureReply, type TransactionRecipient } from './smtp-outcome.ts';
import { smtpAddress } from './smtp-address.ts';

export type SmtpConnectorConfig = Extract<ConnectorConfig, { type: 'smtp' }>;

export interface SmtpConnectorOptions {
  config: SmtpConnectorConfig;
  /** The EHLO name. */
  hostname: string;
  resolver: MxResolver;
  log: LogFn;
  /** Remote hosts (addresses) tried per delivery at most; default 5, as Postfix's smtp_mx_address_limit. */
  maxHosts?: number;
  /** Defaults: connect 30 s, greeting 60 s, socket idle 300 s (RFC 5321 §4.5.3.2 asks for minutes). */
  timeouts?: { connectMs?: number; greetingMs?: number; socketMs?: number };
  /** A host's pool unused this long is closed and forgotten; default 10 minutes. */
  poolIdleMs?: number;
  now?: () => number;
}

/** The hosts for one delivery, or why there are none. */
type Hosts = { ok: true; hosts: MxHost[] } | { ok: false; reply: string; permanent: boolean };

/** One transaction's worth: recipients that share the DSN NOTIFY value (nodemailer sends one per message). */
interface Part {
  recipients: TransactionRecipient[];
  envelope: OutboundEnvelope;
}

export class SmtpConnector implements Connector {
  readonly name: string;
  readonly #config: SmtpConnectorConfig;
  readonly #resolver: MxResolver;
  readonly #log: LogFn;
  readonly #maxHosts: number;
  readonly #settings: HostPoolSettings;
  readonly #pools = new Map<string, { pool: SmtpHostPool; usedAt: number }>();
  readonly #poolIdleMs: number;
  readonly #now: () => number;
  #closed = false;

  constructor(options: SmtpConnectorOptions) {
    this.name = options.config.name;
    this.#config = options.config;
    this.#resolver = options.resolver;
    this.#log = options.log;
    this.#maxHosts = options.maxHosts ?? 5;
    this.#poolIdleMs = options.poolIdleMs ?? 10 * 60_000;
    this.#now = options.now ?? Date.now;
    this.#settings = {
      hostname: options.hostname,
      tls: options.config.tls,
      ...(options.config.tlsVerify === undefined ? {} : { tlsVerify: options.config.tlsVerify }),
      ...(options.config.auth ? { auth: options.config.auth } : {}),
      maxConnections: options.config.maxConnections,
      connectTimeoutMs: options.timeouts?.connectMs ?? 30_000,
      greetingTimeoutMs: options.timeouts?.greetingMs ?? 60_000,
      socketTimeoutMs: options.timeouts?.socketMs ?? 300_000,
    };
  }

  async deliver(hop: NextHop, items: readonly ConnectorItem[]): Promise<RecipientOutcome[][]> {
    const everyone = (make: (index: number) => RecipientOutcome): RecipientOutcome[][] => items.map((item) => item.recipients.map((r) => make(r.index)));
    if (this.#closed) return everyone((index) => ({ index, outcome: 'deferred', reply: '451 4.3.2 the SMTP connector is shutting down' }));
    try {
      return await this.#deliver(hop, items, everyone);
    } catch (error) {
      // A bug here must not lose mail: everything is tried again later.
      this.#log('error', 'outbound.bug', { connector: this.name, destination: hop.destination, error: error instanceof Error ? error.message : String(error) });
      return everyone((index) => ({ index, outcome: 'deferred', reply: '451 4.3.0 internal error in the SMTP connector' }));
    }
  }

  async #deliver(
    hop: NextHop,
    items: readonly ConnectorItem[],
    everyone: (make: (index: number) => RecipientOutcome) => RecipientOutcome[][],
  ): Promise<RecipientOutcome[][]> {
    this.#sweep();
    const found = await this.#hosts(hop);
    if (!found.ok) {
      const { reply, permanent } = found;
      this.#log('warn', 'outbound.no-route', { connector: this.name, destination: hop.destination, reply });
      return everyone((index) => (permanent ? { index, outcome: 'failed', reply } : { index, outcome: 'deferred', reply, hopDown: true }));
    }
    const hosts = found.hosts.slice(0, this.#maxHosts);
    // Hosts that could not be used during this delivery, with why: later items skip them.
    const unusable = new Map<string, string>();
    return Promise.all(
      items.map(async (item) => {
        const parts = this.#parts(item);
        const outcomes = (await Promise.all(parts.map((part) => this.#deliverPart(part, item, hosts, unusable)))).flat();
        const byIndex = new Map(outcomes.map((o) => [o.index, o]));
        return item.recipients.map(
          (r) => byIndex.get(r.index) ?? { index: r.index, outcome: 'failed', reply: `553 5.1.3 cannot send to the address ${JSON.stringify(r.address.slice(0, 300))}` },
        );
      }),
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const { pool } of this.#pools.values()) pool.close();
    this.#pools.clear();
  }

  /** Closes the pools of hosts not used for poolIdleMs, so that a long run does not keep every host it ever saw. */
  #sweep(): void {
    const now = this.#now();
    for (const [key, entry] of this.#pools) {
      if (now - entry.usedAt < this.#poolIdleMs) continue;
      entry.pool.close();
      this.#pools.delete(key);
    }
  }

  async #hosts(hop: NextHop): Promise<Hosts> {
    const port = this.#config.port;
    if (this.#config.smartHosts === undefined) return this.#resolver.resolve(hop.destination, port);
    const answers: MxResolution[] = [];
    for (const host of this.#config.smartHosts) answers.push(await this.#resolver.resolveHost(host, port));
    const hosts = answers.flatMap((a) => (a.ok ? a.hosts : []));
    if (hosts.length > 0) return { ok: true, hosts };
    const first = answers.find((a) => !a.ok);
    // A smart host that cannot be resolved is the admin's to fix: the mail waits, it is not bounced.
    return { ok: false, reply: first && !first.ok ? first.reply.replace(/^5\d\d 5\./, '451 4.') : '451 4.4.3 no smart host', permanent: false };
  }

  /** Splits an item's recipients by NOTIFY (one value per transaction) and builds their envelopes. */
  #parts(item: ConnectorItem): Part[] {
    const { envelope } = item;
    const from = envelope.sender === '' ? '' : smtpAddress(envelope.sender);
    const groups = new Map<string, Part>();
    for (const r of item.recipients) {
      const address = smtpAddress(r.address);
      if (address === '') continue;
      const notify = envelope.recipients.find((x) => x.address === r.address)?.notify;
      const key = notify === undefined ? '' : notify === 'NEVER' ? 'NEVER' : notify.join(',');
      let part = groups.get(key);
      if (part === undefined) {
        const dsn: NonNullable<OutboundEnvelope['dsn']> = {};
        if (envelope.ret !== undefined) dsn.ret = envelope.ret;
        if (envelope.envid !== undefined) dsn.envid = envelope.envid;
        if (notify !== undefined) dsn.notify = notify === 'NEVER' ? ['NEVER'] : [...notify];
        part = {
          recipients: [],
          envelope: { from, to: [], size: item.message.byteLength, use8BitMime: envelope.bodyType === '8BITMIME', ...(Object.keys(dsn).length > 0 ? { dsn } : {}) },
        };
        groups.set(key, part);
      }
      part.recipients.push({ index: r.index, address });
      if (!part.envelope.to.includes(address)) part.envelope.to.push(address);
    }
    return [...groups.values()];
  }

  async #deliverPart(part: Part, item: ConnectorItem, hosts: readonly MxHost[], unusable: Map<string, string>): Promise<RecipientOutcome[]> {
    const message = Buffer.from(item.message.buffer, item.message.byteOffset, item.message.byteLength);
    let lastReply = '451 4.4.0 no host to deliver to';
    // A UTF-8 address needs SMTPUTF8 even if the envelope was not flagged (an agent may have added it).
    const needsUtf8 = item.envelope.smtputf8 || /[^\x00-\x7f]/.test([part.envelope.from, ...part.envelope.to].join(''));
    for (const host of hosts) {
      const pool = this.#pool(host);
      const known = unusable.get(pool.label);
      if (known !== undefined) {
        lastReply = known;
        continue;
      }
      if (needsUtf8) {
        const ext = await pool.extensions();
        if (!ext.ok) {
          lastReply = this.#unusable(pool, sessionFailureReply(ext.failure, pool.label), unusable);
          continue;
        }
        if (!ext.extensions.has('SMTPUTF8')) {
          // RFC 6531 §3.2: the message needs SMTPUTF8 and the host cannot take it; no downgrade.
          const reply = `550 5.6.7 ${pool.label} does not support SMTPUTF8, which this message needs`;
          return part.recipients.map((r) => ({ index: r.index, outcome: 'failed', reply, remoteMta: host.host }));
        }
      }
      const attempt = await pool.send(part.envelope, message);
      if (attempt.ok) {
        this.#log('debug', 'outbound.sent', { host: pool.label, id: item.envelope.id, reply: attempt.report.response });
        return outcomesOfReport(part.recipients, attempt.report, host.host);
      }
      if (isSessionFailure(attempt.failure, attempt.progress)) {
        lastReply = this.#unusable(pool, sessionFailureReply(attempt.failure, pool.label), unusable);
        continue;
      }
      return outcomesOfFailure(part.recipients, attempt.failure, attempt.progress, host.host);
    }
    return part.recipients.map((r) => ({ index: r.index, outcome: 'deferred', reply: lastReply, hopDown: true }));
  }

  #unusable(pool: SmtpHostPool, reply: string, unusable: Map<string, string>): string {
    unusable.set(pool.label, reply);
    this.#log('warn', 'outbound.host.failed', { connector: this.name, host: pool.label, reply });
    return reply;
  }

  #pool(host: MxHost): SmtpHostPool {
    const key = `${host.host} ${host.address} ${host.port}`;
    let entry = this.#pools.get(key);
    if (entry === undefined) {
      entry = { pool: new SmtpHostPool({ host: host.host, address: host.address, port: host.port }, this.#settings), usedAt: 0 };
      this.#pools.set(key, entry);
    }
    entry.usedAt = this.#now();
    return entry.pool;
  }
}
