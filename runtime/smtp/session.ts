/**
 * One SMTP session: the state machine over framed input (RFC 5321, 1870, 2920, 3030, 3207, 3461,
 * 4954, 6152, 6531). It owns the framer and talks to the socket only through `SessionIO`, so it runs
 * the same over TCP, TLS or an in-memory pipe; effects (spool, password checks, clock) are injected.
 */
import { Framer, type FrameEvent } from './framer.ts';
import { formatReply, plainReply, reply, type Reply, type ReplyKey } from './replies.ts';
import { parsePath, validateDomain, normalizeDomain } from './address.ts';
import { parseMailParams, parseRcptParams } from './params.ts';
import { decodeLoginField, decodePlain, decodeResponse, LOGIN_PASSWORD_PROMPT, LOGIN_USER_PROMPT } from './sasl.ts';
import { Transaction, type TransactionOutcome } from './transaction.ts';
import type { PolicyDecision, ReceiveEventName, SessionConfig, SessionPorts, SessionIO, TlsInfo } from './session-types.ts';
import type { ReceiveEvents } from '../../sdk/event-payloads.ts';
import type { HeaderEdit } from '../../sdk/verdict-schema.ts';
import { applyHeaderEdits, isProtectedEdit, parseHeaders } from '../message/headers.ts';
import { base64Of, envelopeInfo, mailParamsInfo, sessionInfo } from './agent-payloads.ts';
import { concatBytes } from '../platform/bytes.ts';

export type { SessionConfig, SessionPorts, SessionIO, TlsInfo } from './session-types.ts';

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });
/** SASL responses are base64 (ASCII): any other octet just fails the base64 check. */
const latin1 = new TextDecoder('latin1');
const encoder = new TextEncoder();

/** Commands a client may send without waiting for the reply, once EHLO advertised PIPELINING. */
const GROUPABLE = new Set(['RSET', 'MAIL', 'RCPT', 'BDAT']);
const HTTP_VERBS = new Set(['GET', 'POST', 'HEAD', 'PUT', 'CONNECT', 'OPTIONS', 'DELETE', 'PATCH']);
const SASL_LINE_OCTETS = 12288;

type SaslState = { mech: 'PLAIN' } | { mech: 'LOGIN'; user?: string };

/** What ended a session, for the connection log line. */
export type SessionEnd = 'quit' | 'timeout' | 'error-limit' | 'protocol-violation' | 'client-closed' | 'shutdown' | 'tls-failed' | 'agent';

/** Events whose verdict the session applies (the observers onReject and onDisconnect are fire-and-forget). */
type DecidedEvent = Exclude<ReceiveEventName, 'onReject' | 'onDisconnect'>;

const LET_THROUGH: PolicyDecision = { verdict: 'continue' };

export class SmtpSession {
  readonly #config: SessionConfig;
  readonly #ports: SessionPorts;
  readonly #io: SessionIO;
  readonly #framer: Framer;
  #helo: string | null = null;
  #esmtp = false;
  #tls: TlsInfo | null = null;
  #user: string | null = null;
  #tx: Transaction | null = null;
  #sasl: SaslState | null = null;
  #errors = 0;
  #unknown = 0;
  #authFailures = 0;
  #closed = false;
  /** Replies not yet written. */
  #out = '';
  /** Reading DATA or a BDAT chunk: the content timers apply, not the command deadline. */
  #inContent = false;
  #busy = false;
  #waitingForCommand = false;
  /** Receive agents are deciding whether to greet: input now is talking before the greeting. */
  #greeting = false;
  /** The verb of the command being handled, for onReject (never its arguments: AUTH carries secrets). */
  #verb = '';
  #sessionId: string | undefined;
  /** Counts for the connection log line. */
  readonly stats = { messages: 0, rejected: 0, end: 'client-closed' as SessionEnd };

  constructor(config: SessionConfig, ports: SessionPorts, io: SessionIO) {
    this.#config = config;
    this.#ports = ports;
    this.#io = io;
    this.#framer = new Framer(config.limits.commandLineOctets);
  }

  get helo(): string | null {
    return this.#helo;
  }

  get user(): string | null {
    return this.#user;
  }

  get tls(): TlsInfo | null {
    return this.#tls;
  }

  /** Octets received and not yet processed (the edge pauses reading when this grows). */
  get backlog(): number {
    return this.#framer.pending;
  }

  /** Sends the greeting (once the onConnect agents let the client in) and starts waiting for the first command. */
  start(): void {
    if (this.#ports.policy?.wants('onConnect')) {
      void this.#greetAfterAgents();
      return;
    }
    this.#greet();
  }

  #greet(): void {
    this.#send(plainReply(220, [`${this.#config.hostname} ESMTP Sluice`]));
    this.#flush();
    this.#awaitCommand();
  }

  async #greetAfterAgents(): Promise<void> {
    this.#greeting = true;
    this.#busy = true;
    let decision: PolicyDecision | null;
    try {
      decision = await this.#consult('onConnect', () => ({ session: this.#info() }), true);
    } finally {
      this.#greeting = false;
      this.#busy = false;
    }
    if (decision === null || this.#closed) return;
    // Anything already received was sent before the greeting: an early talker.
    if (this.#framer.pending > 0) return this.pregreet();
    this.#greet();
  }

  /** The client spoke before the greeting (only detectable with a greeting delay). */
  pregreet(): void {
    this.#fatal('pregreet', 'protocol-violation');
  }

  /** A deadline set through `io.deadline`/`io.idle` passed. */
  timeout(): void {
    this.#fatal('timeout', 'timeout');
  }

  /** The server is stopping. */
  shutdown(): void {
    this.#fatal('shuttingDown', 'shutdown');
  }

  /** Bytes from the client. */
  push(bytes: Uint8Array): void {
    if (this.#closed) return;
    if (this.#greeting) return this.pregreet();
    this.#framer.push(bytes);
    void this.#pump();
  }

  async #pump(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      for (let ev = this.#framer.next(); ev !== null && !this.#closed; ev = this.#framer.next()) {
        await this.#handle(ev);
      }
    } catch (err) {
      this.#ports.log('error', 'smtp.session.bug', { error: String((err as Error)?.stack ?? err) });
      this.#fatal('internalError', 'protocol-violation');
    } finally {
      this.#busy = false;
    }
    this.#flush();
    if (!this.#closed) this.#io.drained();
  }

  async #handle(ev: FrameEvent): Promise<void> {
    switch (ev.type) {
      case 'line':
        this.#waitingForCommand = false;
        if (this.#sasl) await this.#saslStep(ev.line);
        else await this.#command(ev.line);
        if (!this.#closed && this.#framer.pending === 0) this.#awaitCommand();
        return;
      case 'line-error':
        this.#waitingForCommand = false;
        if (ev.error === 'too-long') this.#error('lineTooLong');
        else this.#fatal(ev.error === 'bare-lf' ? 'bareLf' : 'bareCr', 'protocol-violation');
        if (!this.#closed) this.#awaitCommand();
        return;
      case 'content':
        this.#tx?.append(ev.chunk, this.#config.limits.messageSize);
        return;
      case 'content-end':
        this.#inContent = false;
        await this.#contentEnd();
        if (!this.#closed) this.#awaitCommand();
        return;
      case 'content-error': {
        const key = ev.error === 'bare-lf' ? 'bareLf' : ev.error === 'bare-cr' ? 'bareCr' : 'nulInData';
        this.#rejectMessage(`content ${ev.error}`);
        this.#fatal(key, 'protocol-violation');
        return;
      }
    }
  }

  /** Starts the per-request deadline for the next command (RFC 5321 4.5.3.2.7; trickling does not extend it). */
  #awaitCommand(): void {
    if (this.#waitingForCommand || this.#inContent) return;
    this.#waitingForCommand = true;
    this.#io.idle(null);
    this.#io.deadline(this.#config.timeouts.commandMs);
  }

  async #command(raw: Uint8Array): Promise<void> {
    if (raw.indexOf(0) !== -1) return this.#unknownCommand('nulInCommand');
    let line: string;
    try {
      line = fatalUtf8.decode(raw);
    } catch {
      return void this.#error('invalidUtf8');
    }
    const space = line.indexOf(' ');
    const verb = (space === -1 ? line : line.slice(0, space)).toUpperCase();
    const args = space === -1 ? '' : line.slice(space + 1);
    this.#verb = verb.length <= 16 ? verb : verb.slice(0, 16);
    if (HTTP_VERBS.has(verb) || /^[A-Za-z-]+:/.test(verb)) return void this.#fatal('httpRequest', 'protocol-violation');
    // RFC 2920 and Postfix's smtpd_forbid_unauth_pipelining: only some commands may be followed by
    // more input before their reply. Everything else pipelined means the client does not wait.
    // QUIT ends the session anyway; STARTTLS discards what follows it (RFC 3207, CVE-2011-0411).
    const mayGroup = (this.#esmtp && GROUPABLE.has(verb)) || verb === 'QUIT' || verb === 'STARTTLS';
    if (this.#framer.pending > 0 && !mayGroup && this.#user === null) {
      return void this.#fatal('syncError', 'protocol-violation');
    }
    switch (verb) {
      case 'EHLO':
      case 'HELO':
        return this.#hello(verb, args);
      case 'MAIL':
        return this.#mail(args);
      case 'RCPT':
        return this.#rcpt(args);
      case 'DATA':
        return this.#data(args);
      case 'BDAT':
        return this.#bdat(args);
      case 'RSET':
        if (args !== '') return void this.#error('syntax', 'RSET');
        if ((await this.#consult('onRset', () => ({ session: this.#info() }))) === null) return;
        this.#resetTransaction();
        return void this.#send(reply('reset'));
      case 'NOOP':
        if ((await this.#consult('onNoop', () => ({ session: this.#info() }))) === null) return;
        return void this.#send(reply('ok'));
      case 'QUIT':
        this.#send(reply('bye'));
        return this.#close('quit');
      case 'HELP':
        if ((await this.#consult('onHelp', () => ({ session: this.#info() }))) === null) return;
        return void this.#send(reply('help'));
      case 'VRFY':
        if (args.trim() === '') return void this.#error('syntax', 'VRFY <address>');
        return void this.#send(reply('vrfy'));
      case 'STARTTLS':
        return this.#startTls(args);
      case 'AUTH':
        return this.#auth(args);
      case 'EXPN':
      case 'ETRN':
      case 'TURN':
        return void this.#error('unsupportedCommand');
      default:
        return this.#unknownCommand('unknownCommand');
    }
  }

  async #hello(verb: 'EHLO' | 'HELO', args: string): Promise<void> {
    const name = args.trim();
    if (name === '' || name.includes(' ') || validateDomain(heloDomain(name), false) !== null) {
      return void this.#error('syntax', `${verb} hostname`);
    }
    if ((await this.#consult(verb === 'EHLO' ? 'onEhlo' : 'onHelo', () => ({ session: this.#info(), name }))) === null) return;
    this.#resetTransaction();
    this.#helo = name;
    this.#esmtp = verb === 'EHLO';
    const greet = `${this.#config.hostname} greets ${name}`;
    if (!this.#esmtp) return void this.#send(plainReply(250, [greet]));
    this.#send(plainReply(250, [greet, ...this.#extensions()]));
  }

  #extensions(): string[] {
    const c = this.#config;
    const ext = ['PIPELINING', `SIZE ${c.limits.messageSize}`, '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'CHUNKING', 'DSN'];
    if (c.tlsAvailable && this.#tls === null) ext.push('STARTTLS');
    if (this.#authOffered()) ext.push('AUTH PLAIN LOGIN');
    ext.push('HELP');
    return ext;
  }

  #authOffered(): boolean {
    return this.#config.authAvailable && (this.#tls !== null || this.#config.allowPlaintextAuth) && this.#user === null;
  }

  async #mail(args: string): Promise<void> {
    if (this.#helo === null) return void this.#error('badSequence', 'Send EHLO or HELO first');
    if (this.#tx) return void this.#error('badSequence', 'Nested MAIL command');
    if (!/^FROM:/i.test(args)) return void this.#error('syntax', 'MAIL FROM:<address> [parameters]');
    if (this.stats.messages + this.stats.rejected >= this.#config.limits.messagesPerConnection) {
      return void this.#fatal('tooManyMessages', 'error-limit');
    }
    const text = args.slice(5);
    // SMTPUTF8 is a parameter after the path, so peek for it before judging the path.
    const smtputf8 = this.#esmtp && /(^|\s)SMTPUTF8(\s|$)/i.test(text.slice(text.indexOf('>') + 1));
    const path = parsePath(text, { smtputf8, allowNull: true, allowPostmaster: false });
    if (!path.ok) return void this.#addressError(path.error, 'badSender');
    const params = parseMailParams(path.rest, {
      maxSize: this.#config.limits.messageSize,
      smtputf8: this.#esmtp,
      chunking: this.#esmtp,
      dsn: this.#esmtp,
      auth: this.#esmtp,
    });
    if (!params.ok) return void this.#paramError(params.error);
    const mailParams = params.params;
    if ((await this.#consult('onMailFrom', () => ({ session: this.#info(), sender: path.address, params: mailParamsInfo(mailParams) }))) === null) return;
    this.#tx = new Transaction(path.address, params.params);
    this.#send(reply('senderOk'));
  }

  async #rcpt(args: string): Promise<void> {
    const tx = this.#tx;
    if (tx === null) return void this.#error('badSequence', 'Need MAIL command first');
    if (tx.dataStarted) return void this.#error('badSequence', 'RCPT after message data');
    if (!/^TO:/i.test(args)) return void this.#error('syntax', 'RCPT TO:<address> [parameters]');
    const path = parsePath(args.slice(3), { smtputf8: tx.params.smtputf8, allowNull: false, allowPostmaster: true });
    if (!path.ok) return void this.#addressError(path.error, 'badAddress');
    const params = parseRcptParams(path.rest, { dsn: this.#esmtp });
    if (!params.ok) return void this.#paramError(params.error);
    const local = path.domain === null || this.#config.isLocalDomain(normalizeDomain(path.domain));
    if (!local && this.#user === null && !this.#config.relayClient) return void this.#error('relayDenied');
    if (local && this.#config.isKnownRecipient?.(path.address) === false) return void this.#error('unknownUser', path.address);
    if (tx.recipients.length >= this.#config.limits.recipients && !tx.has(path.address)) {
      // RFC 5321 4.5.3.1.10: a temporary failure, so the client sends the rest in another transaction.
      return void this.#send(reply('tooManyRecipients'));
    }
    const rcptParams = params.params;
    const decided = await this.#consult('onRcptTo', () => {
      const event: ReceiveEvents['onRcptTo'] = { session: this.#info(), sender: tx.sender, recipient: path.address, params: {}, accepted: tx.recipients.map((r) => r.address) };
      if (rcptParams.notify !== undefined) event.params.notify = rcptParams.notify;
      if (rcptParams.orcpt !== undefined) event.params.orcpt = { ...rcptParams.orcpt };
      return event;
    });
    if (decided === null) return;
    tx.addRecipient(path.address, params.params);
    this.#send(reply('recipientOk'));
  }

  async #data(args: string): Promise<void> {
    const tx = this.#tx;
    if (args !== '') return void this.#error('syntax', 'DATA');
    if (tx === null) return void this.#error('badSequence', 'Need MAIL command first');
    if (tx.recipients.length === 0) return void this.#error('noValidRecipients');
    if (tx.dataStarted) return void this.#error('badSequence', 'DATA cannot follow BDAT');
    if ((await this.#consult('onData', () => ({ session: this.#info(), envelope: envelopeInfo(tx) }))) === null) return;
    tx.dataStarted = true;
    this.#send(reply('startData'));
    this.#framer.startData();
    this.#waitForContent();
  }

  #bdat(args: string): void {
    const m = /^(\d{1,15})( LAST)?$/i.exec(args);
    if (!m) return void this.#fatal('syntax', 'protocol-violation', 'BDAT <size> [LAST]');
    const size = Number(m[1]);
    const last = m[2] !== undefined;
    const tx = this.#tx;
    // The chunk follows the command whatever we answer, and it is only framed by its length: when
    // we cannot take it we must still read past it, or close. Closing is bounded; skipping is not.
    if (tx === null || tx.recipients.length === 0) {
      return void this.#fatal('badSequence', 'protocol-violation', tx === null ? 'Need MAIL command first' : 'No valid recipients');
    }
    if (tx.size + size > this.#config.limits.messageSize) {
      this.#rejectMessage('size');
      return void this.#fatal('messageTooBig', 'protocol-violation', this.#config.limits.messageSize);
    }
    const first = !tx.dataStarted;
    tx.dataStarted = true;
    tx.bdatLast = last;
    this.#framer.startBdat(size, first);
    this.#waitForContent();
  }

  #waitForContent(): void {
    this.#waitingForCommand = false;
    this.#inContent = true;
    this.#io.deadline(this.#config.timeouts.dataTotalMs);
    this.#io.idle(this.#config.timeouts.dataIdleMs);
  }

  async #contentEnd(): Promise<void> {
    const tx = this.#tx;
    if (tx === null) return;
    if (tx.isBdat && !tx.bdatLast) return void this.#send(reply('chunkOk', this.#framer.contentStats.bytes));
    const stats = this.#framer.contentStats;
    const outcome: TransactionOutcome = tx.outcome(stats, this.#config.limits);
    this.#tx = null;
    if (outcome.kind === 'too-big') {
      this.#rejectMessage('size');
      return void this.#error('messageTooBig', this.#config.limits.messageSize);
    }
    if (outcome.kind === 'long-line') {
      this.#rejectMessage('line length');
      return void this.#error('longTextLine', this.#config.limits.textLineOctets);
    }
    if (!(await this.#contentAgents(tx))) return;
    this.#flush();
    const result = await this.#ports.commit(tx, {
      client: this.#config.client,
      helo: this.#helo ?? '',
      user: this.#user,
      tls: this.#tls,
      protocol: this.#protocolName(tx.params.smtputf8),
    });
    if (result.ok) {
      this.stats.messages++;
      this.#send(reply('queued', result.id));
    } else {
      this.stats.rejected++;
      this.#error(result.reply);
    }
  }

  /**
   * The agents of the end of the content: onData (for BDAT, whose chunks cannot be refused before
   * they are read), onEndOfHeaders, onEndOfData; their header edits are applied to the message.
   * False when an agent refused the message (the reply is queued).
   */
  async #contentAgents(tx: Transaction): Promise<boolean> {
    const policy = this.#ports.policy;
    if (policy === undefined) return true;
    const wantsData = tx.isBdat && policy.wants('onData');
    if (!wantsData && !policy.wants('onEndOfHeaders') && !policy.wants('onEndOfData')) return true;
    const refused = (): false => {
      this.stats.rejected++;
      this.#ports.log('info', 'message.rejected', { from: tx.sender, to: tx.recipients.map((r) => r.address), size: tx.size, reason: 'agent' });
      return false;
    };
    const envelope = envelopeInfo(tx);
    if (wantsData && (await this.#consult('onData', () => ({ session: this.#info(), envelope }))) === null) return refused();
    let message = concatBytes(tx.chunks);
    let headers = parseHeaders(message);
    const edit = (decision: PolicyDecision): void => {
      const edits = decision.verdict === 'continue' ? (decision.headers ?? []) : [];
      if (edits.length === 0) return;
      message = this.#applyEdits(message, edits);
      headers = parseHeaders(message);
    };
    const endOfHeaders = await this.#consult('onEndOfHeaders', () => ({ session: this.#info(), envelope, headers }));
    if (endOfHeaders === null) return refused();
    edit(endOfHeaders);
    const endOfData = await this.#consult('onEndOfData', () => {
      const event: ReceiveEvents['onEndOfData'] = { session: this.#info(), envelope, headers, size: message.length };
      if (policy.wantsBody()) event.body = base64Of(message);
      return event;
    });
    if (endOfData === null) return refused();
    edit(endOfData);
    if (message !== tx.chunks[0] || tx.chunks.length !== 1) tx.replaceContent(message);
    return true;
  }

  /** Applies agents' header edits; edits of trace fields (Received, Return-Path) are refused and logged. */
  #applyEdits(message: Uint8Array, edits: readonly HeaderEdit[]): Uint8Array {
    const allowed = edits.filter((e) => !isProtectedEdit(e));
    if (allowed.length !== edits.length) this.#ports.log('warn', 'agent.header-edit.refused', { refused: edits.filter(isProtectedEdit).map((e) => `${e.op} ${e.name}`) });
    const result = applyHeaderEdits(message, allowed);
    if (!result.ok) {
      this.#ports.log('warn', 'agent.header-edit.refused', { error: result.error });
      return message;
    }
    return concatBytes(result.message);
  }

  /** RFC 3848 / RFC 6531 protocol names for the trace header. */
  #protocolName(utf8: boolean): string {
    if (!this.#esmtp) return 'SMTP';
    const base = utf8 ? 'UTF8SMTP' : 'ESMTP';
    return `${base}${this.#tls ? 'S' : ''}${this.#user !== null ? 'A' : ''}`;
  }

  async #startTls(args: string): Promise<void> {
    if (args !== '') return void this.#error('syntax', 'STARTTLS');
    if (this.#tls !== null) return void this.#error('tlsActive');
    if (!this.#config.tlsAvailable) return void this.#error('unsupportedCommand');
    if ((await this.#consult('onStartTls', () => ({ session: this.#info() }))) === null) return;
    // CVE-2011-0411: nothing the client sent before the handshake may be executed after it.
    this.#framer.discard();
    this.#send(reply('startTls'));
    this.#flush();
    this.#io.idle(null);
    this.#io.deadline(this.#config.timeouts.tlsHandshakeMs);
    let info: TlsInfo;
    try {
      info = await this.#io.startTls();
    } catch (err) {
      this.#ports.log('info', 'smtp.tls.failed', { error: String((err as Error)?.message ?? err) });
      return this.#close('tls-failed');
    }
    // RFC 3207 4.2: forget everything learned before the handshake. (The framer holds only
    // data received over TLS now: the edge stopped feeding plaintext when startTls() was called.)
    this.#tls = info;
    this.#helo = null;
    this.#esmtp = false;
    this.#user = null;
    this.#resetTransaction();
    this.#waitingForCommand = false;
    this.#awaitCommand();
  }

  async #auth(args: string): Promise<void> {
    const [mechRaw = '', initial, extra] = args.split(' ');
    const mech = mechRaw.toUpperCase();
    if (!this.#esmtp) return void this.#error('badSequence', 'Send EHLO first');
    if (this.#user !== null) return void this.#error('badSequence', 'Already authenticated');
    if (this.#tx) return void this.#error('badSequence', 'AUTH not allowed during a mail transaction');
    if (!this.#config.authAvailable) return void this.#error('unsupportedCommand');
    if (mech === '' || extra !== undefined) return void this.#error('syntax', 'AUTH mechanism [initial-response]');
    if (mech !== 'PLAIN' && mech !== 'LOGIN') return void this.#error('unsupportedMechanism');
    if (this.#tls === null && !this.#config.allowPlaintextAuth) return void this.#error('encryptionRequired');
    if ((await this.#consult('onAuth', () => ({ session: this.#info(), mechanism: mech }))) === null) return;
    this.#framer.setMaxLine(SASL_LINE_OCTETS);
    if (mech === 'PLAIN') {
      this.#sasl = { mech: 'PLAIN' };
      if (initial === undefined) return void this.#send(plainReply(334, ['']));
      return this.#saslStep(encoder.encode(initial));
    }
    this.#sasl = { mech: 'LOGIN' };
    if (initial === undefined) return void this.#send(plainReply(334, [LOGIN_USER_PROMPT]));
    return this.#saslStep(encoder.encode(initial));
  }

  async #saslStep(raw: Uint8Array): Promise<void> {
    const sasl = this.#sasl;
    if (sasl === null) return;
    const line = latin1.decode(raw);
    if (line === '*') return void this.#endSasl('authCancelled');
    const decoded = decodeResponse(line);
    if (!decoded.ok) return void this.#endSasl('authBadData', decoded.message);
    if (sasl.mech === 'PLAIN') {
      const creds = decodePlain(decoded.value);
      if (!creds.ok) return void this.#endSasl('authBadData', creds.message);
      return this.#verify('PLAIN', creds.value.user, creds.value.password);
    }
    if (sasl.user === undefined) {
      const user = decodeLoginField(decoded.value, 'user');
      if (!user.ok) return void this.#endSasl('authBadData', user.message);
      sasl.user = user.value;
      return void this.#send(plainReply(334, [LOGIN_PASSWORD_PROMPT]));
    }
    const password = decodeLoginField(decoded.value, 'password');
    if (!password.ok) return void this.#endSasl('authBadData', password.message);
    return this.#verify('LOGIN', sasl.user, password.value);
  }

  async #verify(mechanism: 'PLAIN' | 'LOGIN', user: string, password: string): Promise<void> {
    this.#flush();
    const verdict = await this.#ports.verifyPassword(user, password);
    const ended = verdict === 'error' ? LET_THROUGH : await this.#consult('onEndOfAuthentication', () => ({ session: this.#info(), mechanism, user, success: verdict === 'ok' }));
    if (ended === null) {
      // An agent refused the authentication: its reply stands, the client stays unauthenticated.
      if (verdict !== 'ok') this.#authFailures++;
      return void this.#endSasl(null);
    }
    if (verdict === 'ok') {
      this.#endSasl(null);
      this.#user = user;
      this.#ports.log('info', 'smtp.auth.ok', { user });
      return void this.#send(reply('authOk'));
    }
    if (verdict === 'error') return void this.#endSasl('authTempFail');
    this.#authFailures++;
    this.#ports.log('info', 'smtp.auth.failed', { user });
    if (this.#authFailures >= this.#config.limits.authFailures) {
      this.#endSasl(null);
      return void this.#fatal('tooManyAuthFailures', 'error-limit');
    }
    this.#endSasl('authInvalid');
  }

  #endSasl(key: ReplyKey | null, ...args: string[]): void {
    this.#sasl = null;
    this.#framer.setMaxLine(this.#config.limits.commandLineOctets);
    if (key !== null) this.#error(key, ...args);
  }

  #resetTransaction(): void {
    this.#tx = null;
  }

  #rejectMessage(reason: string): void {
    const tx = this.#tx;
    this.#tx = null;
    if (tx === null) return;
    this.stats.rejected++;
    this.#ports.log('info', 'message.rejected', {
      from: tx.sender,
      to: tx.recipients.map((r) => r.address),
      size: tx.size,
      reason,
    });
  }

  #addressError(error: { kind: string; message: string }, fallback: 'badSender' | 'badAddress'): void {
    if (error.kind === 'needs-smtputf8') return void this.#error('needsSmtputf8');
    this.#error(fallback, error.message);
  }

  #paramError(error: { kind: string; message: string }): void {
    switch (error.kind) {
      case 'size-exceeded':
        return void this.#error('messageTooBig', this.#config.limits.messageSize);
      case 'unknown':
        return void this.#error('unknownParam', error.message);
      case 'unsupported-value':
        return void this.#error('unsupportedParamValue', error.message);
      default:
        return void this.#error('badParam', error.message);
    }
  }

  #unknownCommand(key: 'unknownCommand' | 'nulInCommand'): void {
    this.#unknown++;
    if (this.#unknown >= this.#config.limits.unknownCommands) return void this.#fatal('tooManyUnknown', 'error-limit');
    this.#error(key);
  }

  /** Sends an error reply and enforces the session's error limit. */
  #error(key: ReplyKey, ...args: (string | number)[]): void {
    this.#errorReply(reply(key, ...args));
  }

  #errorReply(r: Reply): void {
    this.#send(r);
    this.#errors++;
    if (this.#errors >= this.#config.limits.errors) this.#fatal('tooManyErrors', 'error-limit');
  }

  /** Sends a final reply and closes. */
  #fatal(key: ReplyKey, end: SessionEnd, ...args: (string | number)[]): void {
    if (this.#closed) return;
    this.#send(reply(key, ...args));
    this.#close(end);
  }

  /** Queues a reply; replies go out together when the session next waits (RFC 2920: flush before blocking). */
  #send(r: Reply): void {
    if (this.#closed) return;
    this.#out += formatReply(r);
    if (r.code >= 400 && this.#ports.policy?.wants('onReject')) {
      const reply = { code: r.code, enhanced: r.status ?? '', text: r.lines.join(' ') };
      this.#ports.policy.observe('onReject', { session: this.#info(), command: this.#verb, reply });
    }
  }

  /**
   * Asks the receive agents about `event` (only when one subscribed: no agents, no cost). Returns the
   * decision to go on with, or null when an agent refused: its reply is queued (and, when `fatal` or
   * for `disconnect`, the connection is closing).
   */
  async #consult<E extends DecidedEvent>(event: E, payload: () => ReceiveEvents[E], fatal = false): Promise<PolicyDecision | null> {
    const policy = this.#ports.policy;
    if (policy === undefined || !policy.wants(event)) return LET_THROUGH;
    const decision = await policy.decide(event, payload());
    if (this.#closed) return null;
    if (decision.verdict === 'continue') return decision;
    if (decision.verdict === 'disconnect') {
      this.#send({ code: 421, status: '4.7.0', lines: [decision.text ?? `${this.#config.hostname} closing connection`] });
      this.#close('agent');
      return null;
    }
    const refusal: Reply = { code: decision.code, status: decision.enhanced, lines: [decision.text] };
    if (fatal) {
      this.#send(refusal);
      this.#close('agent');
    } else {
      this.#errorReply(refusal);
    }
    return null;
  }

  /** What agents see about this session now. */
  #info(): ReturnType<typeof sessionInfo> {
    this.#sessionId ??= this.#config.sessionId ?? globalThis.crypto.randomUUID();
    return sessionInfo({ id: this.#sessionId, client: this.#config.client, helo: this.#helo, tls: this.#tls, user: this.#user });
  }

  #flush(): void {
    if (this.#out === '') return;
    const text = this.#out;
    this.#out = '';
    this.#io.write(text);
  }

  #close(end: SessionEnd): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    this.stats.end = end;
    this.#framer.discard();
    this.#io.close();
    this.#observeDisconnect(end);
  }

  #observeDisconnect(reason: SessionEnd): void {
    if (this.#ports.policy?.wants('onDisconnect')) this.#ports.policy.observe('onDisconnect', { session: this.#info(), reason });
  }

  /** The peer went away. */
  closedByPeer(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#tx?.dataStarted) this.#rejectMessage('connection lost during data');
    this.#framer.discard();
    this.#observeDisconnect('client-closed');
  }
}

/** EHLO may name an address literal; validate it like a domain of an address. */
function heloDomain(name: string): string {
  return name.startsWith('[') ? name : name.replace(/_/g, '-');
}
