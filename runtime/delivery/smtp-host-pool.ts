/**
 * One remote SMTP host (an address and port): a pooled nodemailer SMTP transport kept across
 * deliveries, plus what is known of the host's EHLO extensions.
 */
import { isIP } from 'node:net';
import nodemailer from 'nodemailer';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { EnvelopeProgress, SendFailure, SendReport } from './smtp-outcome.ts';

export interface HostTarget {
  /** The MX host name (or the address for a literal): TLS server name and remote MTA. */
  host: string;
  address: string;
  port: number;
}

export interface HostPoolSettings {
  /** The EHLO name. */
  hostname: string;
  tls: 'opportunistic' | 'required' | 'none';
  /** Check the certificate; default only when TLS is required. */
  tlsVerify?: boolean;
  auth?: { user: string; pass: string };
  maxConnections: number;
  connectTimeoutMs: number;
  greetingTimeoutMs: number;
  socketTimeoutMs: number;
}

export interface OutboundEnvelope {
  from: string;
  to: string[];
  size: number;
  use8BitMime: boolean;
  dsn?: { ret?: 'FULL' | 'HDRS'; envid?: string; notify?: string[] };
}

export type SendAttempt =
  | { ok: true; report: SendReport; progress: EnvelopeProgress | undefined }
  | { ok: false; failure: SendFailure; progress: EnvelopeProgress | undefined };

export type ExtensionsAnswer = { ok: true; extensions: ReadonlySet<string> } | { ok: false; failure: SendFailure };

/** EHLO keywords (`SIZE 1000` → `SIZE`) from reply lines with or without their `250-` prefix. */
export function ehloKeywords(lines: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const line of lines) {
    const keyword = /^(?:\d{3}[ -])?([A-Za-z0-9][A-Za-z0-9-]*)/.exec(line.trim())?.[1];
    if (keyword !== undefined) out.add(keyword.toUpperCase());
  }
  return out;
}

function asFailure(error: unknown): SendFailure {
  const e = (error ?? {}) as Partial<SendFailure> & { message?: unknown };
  const failure: SendFailure = { message: typeof e.message === 'string' ? e.message : String(error) };
  if (typeof e.code === 'string') failure.code = e.code;
  if (typeof e.originalCode === 'string') failure.originalCode = e.originalCode;
  if (typeof e.command === 'string') failure.command = e.command;
  if (typeof e.response === 'string') failure.response = e.response;
  if (typeof e.responseCode === 'number') failure.responseCode = e.responseCode;
  if (Array.isArray(e.rejectedErrors)) failure.rejectedErrors = e.rejectedErrors;
  return failure;
}

/** The envelope object nodemailer fills in while it sends (accepted, rejectedErrors …). */
interface Tracked {
  envelope?: { accepted?: unknown; rejectedErrors?: unknown };
}

function progressOf(tracked: Tracked): EnvelopeProgress | undefined {
  const env = tracked.envelope;
  if (env === undefined || !Array.isArray(env.accepted)) return undefined;
  return { accepted: env.accepted as string[], rejectedErrors: Array.isArray(env.rejectedErrors) ? (env.rejectedErrors as EnvelopeProgress['rejectedErrors']) : [] };
}

export class SmtpHostPool {
  readonly target: HostTarget;
  /** `mx.example.com[192.0.2.1]:25`, for replies and logs. */
  readonly label: string;
  readonly #options: Record<string, unknown>;
  readonly #transport: ReturnType<typeof nodemailer.createTransport>;
  readonly #tracked = new WeakMap<object, Tracked>();
  #extensions: Set<string> | undefined;
  #probe: Promise<ExtensionsAnswer> | undefined;

  constructor(target: HostTarget, settings: HostPoolSettings) {
    this.target = target;
    this.label = target.host === target.address ? `[${target.address}]:${target.port}` : `${target.host}[${target.address}]:${target.port}`;
    const verify = settings.tlsVerify ?? settings.tls === 'required';
    this.#options = {
      host: target.address,
      port: target.port,
      secure: false,
      name: settings.hostname,
      ignoreTLS: settings.tls === 'none',
      requireTLS: settings.tls === 'required',
      opportunisticTLS: settings.tls === 'opportunistic',
      // The certificate is checked against the MX host name, not the address connected to.
      ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
      tls: { rejectUnauthorized: verify, minVersion: 'TLSv1.2' },
      ...(settings.auth ? { auth: { user: settings.auth.user, pass: settings.auth.pass } } : {}),
      connectionTimeout: settings.connectTimeoutMs,
      greetingTimeout: settings.greetingTimeoutMs,
      socketTimeout: settings.socketTimeoutMs,
      logger: false,
    };
    this.#transport = nodemailer.createTransport({
      ...this.#options,
      pool: true,
      maxConnections: settings.maxConnections,
      // One more try on a fresh connection when a reused one was closed under us; more would only
      // delay the fallback to the next MX host.
      maxRequeues: 1,
      disableFileAccess: true,
      disableUrlAccess: true,
    } as Parameters<typeof nodemailer.createTransport>[0] & { pool: true });
    // Send failures come back through sendMail; an 'error' event with no listener would end the process.
    this.#transport.on('error', () => {});
    // nodemailer drops the per-recipient RCPT replies from the error of a failed DATA phase; the
    // envelope object it fills in while sending still has them (and says whether the transaction
    // began at all). This hook sees that object just before the message is queued on the pool.
    this.#transport.use('stream', (mail, done) => {
      const tracked = this.#tracked.get((mail.data as { envelope?: object }).envelope ?? {});
      if (tracked !== undefined) tracked.envelope = mail.message.getEnvelope() as Tracked['envelope'];
      done();
    });
  }

  /** Sends one transaction over a pooled connection (opened if none is idle). Never rejects. */
  async send(envelope: OutboundEnvelope, message: Buffer): Promise<SendAttempt> {
    // Addresses as objects so that nodemailer does not parse them as header text (see smtp-address.ts).
    const data = {
      from: envelope.from === '' ? '' : { address: envelope.from, name: '' },
      to: envelope.to.map((address) => ({ address, name: '' })),
      size: envelope.size,
      use8BitMime: envelope.use8BitMime,
    };
    const tracked: Tracked = {};
    this.#tracked.set(data, tracked);
    try {
      const info = (await this.#transport.sendMail({ envelope: data, raw: message, ...(envelope.dsn ? { dsn: envelope.dsn } : {}) })) as unknown as SendReport & { ehlo?: string[] };
      if (Array.isArray(info.ehlo)) this.#extensions = ehloKeywords(info.ehlo);
      return { ok: true, report: { accepted: info.accepted ?? [], rejectedErrors: info.rejectedErrors ?? [], response: String(info.response ?? '') }, progress: progressOf(tracked) };
    } catch (error) {
      return { ok: false, failure: asFailure(error), progress: progressOf(tracked) };
    }
  }

  /**
   * The host's EHLO keywords (after STARTTLS, when it was used): known from an earlier send, or
   * learned by a session of its own that ends after EHLO. nodemailer's pool does not say which
   * extensions a connection has before it sends on it.
   */
  extensions(): Promise<ExtensionsAnswer> {
    if (this.#extensions !== undefined) return Promise.resolve({ ok: true, extensions: this.#extensions });
    this.#probe ??= this.#ask().finally(() => {
      this.#probe = undefined;
    });
    return this.#probe;
  }

  #ask(): Promise<ExtensionsAnswer> {
    return new Promise((resolve) => {
      const connection = new SMTPConnection(this.#options as ConstructorParameters<typeof SMTPConnection>[0]);
      let settled = false;
      const finish = (answer: ExtensionsAnswer): void => {
        if (settled) return;
        settled = true;
        resolve(answer);
      };
      connection.on('error', (error: unknown) => finish({ ok: false, failure: asFailure(error) }));
      connection.on('end', () => finish({ ok: false, failure: { code: 'ECONNECTION', message: 'connection closed before EHLO completed' } }));
      connection.connect((error?: unknown) => {
        if (error) return finish({ ok: false, failure: asFailure(error) });
        // After connect() the last reply is the (post-STARTTLS) EHLO reply.
        const last = typeof connection.lastServerResponse === 'string' ? connection.lastServerResponse : '';
        this.#extensions = ehloKeywords(last.split(/\r?\n/).slice(1));
        finish({ ok: true, extensions: this.#extensions });
        connection.quit();
      });
    });
  }

  /** Closes the pooled connections (QUIT when idle; those sending finish first). */
  close(): void {
    this.#transport.close();
  }
}
