// Cheap SMTP load generator on node:net: N connections send M messages, measuring per-transaction latency.
import net from 'node:net';
import { sharedClockMs } from './shared-clock.ts';

/** One complete (possibly multi-line) SMTP reply. */
export type SmtpReply = { code: number; lines: string[] };

export type LoadMode = 'single' | 'reuse';

export type LoadOptions = {
  host: string;
  port: number;
  /** Concurrent connections. */
  connections: number;
  /** Messages to send in total. */
  messages: number;
  /** Size in bytes of each message (headers + body, before dot-stuffing, which it never needs). */
  size: number;
  /** single: one message per connection; reuse: each connection sends messages until none are left. */
  mode: LoadMode;
  /** Recipients are user0 … user(users-1) @ domain, round robin. */
  users: number;
  domain: string;
  /** Per-reply wait before the connection counts as failed. */
  replyTimeoutMs: number;
  /** Hard limit for the whole run; sockets still open then are destroyed and counted as errors. */
  deadlineMs: number;
  /**
   * Tag mixed into Message-IDs so that runs and passes never repeat one: message i carries
   * `Message-ID: <{tag}.{i, zero-padded}@load.example>` (see `messageId`).
   */
  tag: string;
};

export type LoadResult = {
  /** Messages that got a 2xx after the final dot. */
  accepted: number;
  /** Transactions or connections that failed (any 4xx/5xx reply, socket error, timeout). */
  failed: number;
  elapsedMs: number;
  msgsPerSec: number;
  /** Latency from MAIL sent to the reply after the final dot, accepted messages only, sorted ascending. */
  latenciesMs: Float64Array;
  p50Ms: number;
  p99Ms: number;
  /** Distinct failure descriptions and how often each occurred. */
  errors: Map<string, number>;
  /** Client process CPU time spent during the run (user + system), and as a share of one core. */
  clientCpuMs: number;
  clientCpuPct: number;
  /** Connections that advertised PIPELINING (MAIL+RCPT+DATA sent as one group, RFC 2920). */
  pipelined: number;
  connectionsOpened: number;
  /** Shared-clock time (shared-clock.ts) just before the first connection was opened. */
  startedAtMs: number;
  /** Per message index: shared-clock time the 2xx after its final dot arrived; NaN if it was not accepted. */
  acceptedAtMs: Float64Array;
};

const CRLF = '\r\n';
const LINE = 'The quick brown fox jumps over the lazy dog while the load generator keeps count';

/** The header block of a load message, blank line included. `id` is the Message-ID without angle brackets. */
export function messageHeader(from: string, to: string, id: string): string {
  return (
    `From: Load Generator <${from}>${CRLF}` +
    `To: <${to}>${CRLF}` +
    `Subject: smtp-load ${id}${CRLF}` +
    `Date: Thu, 01 Jan 2026 00:00:00 +0000${CRLF}` +
    `Message-ID: <${id}>${CRLF}` +
    `MIME-Version: 1.0${CRLF}` +
    `Content-Type: text/plain; charset=us-ascii${CRLF}${CRLF}`
  );
}

/**
 * A body of exactly `bytes` bytes (at least 2): lines of 1–78 characters, none starting with '.',
 * each ending in CRLF, so it is dot-safe and needs no stuffing.
 */
export function messageBody(bytes: number): Buffer {
  const parts: string[] = [];
  let left = Math.max(bytes, 2);
  while (left > 0) {
    let len = Math.min(LINE.length - 2, left - 2);
    // never leave a remainder too short to hold one non-empty line
    if (left - (len + 2) > 0 && left - (len + 2) < 3) len -= 3;
    parts.push(LINE.slice(0, len) + CRLF);
    left -= len + 2;
  }
  return Buffer.from(parts.join(''), 'latin1');
}

/** The Message-ID (without angle brackets) of message `index` of a pass of `messages` tagged `tag`. */
export function messageId(tag: string, index: number, messages: number): string {
  return `${tag}.${String(index).padStart(String(messages).length, '0')}@load.example`;
}

/** The message index in a Message-ID made by `messageId` for `tag`, or undefined if it is not one of that pass. */
export function messageIndex(tag: string, id: string): number | undefined {
  const prefix = `${tag}.`;
  if (!id.startsWith(prefix) || !id.endsWith('@load.example')) return undefined;
  const digits = id.slice(prefix.length, id.length - '@load.example'.length);
  return /^\d{1,9}$/.test(digits) ? Number(digits) : undefined;
}

/** A valid RFC 5322 message of exactly `size` bytes (or the header plus one line, if larger), CRLF, dot-safe. `id` as in messageHeader. */
export function buildMessage(size: number, from: string, to: string, id: string): Buffer {
  const head = messageHeader(from, to, id);
  return Buffer.concat([Buffer.from(head, 'latin1'), messageBody(size - head.length)]);
}

/** A reply reader over one socket: frames CRLF lines into replies and hands them out in order. */
class SmtpWire {
  readonly socket: net.Socket;
  #buffered = '';
  #lines: string[] = [];
  readonly #replies: SmtpReply[] = [];
  #waiter: { resolve: (r: SmtpReply) => void; reject: (e: Error) => void } | undefined;
  #failure: Error | undefined;

  constructor(socket: net.Socket, timeoutMs: number) {
    this.socket = socket;
    socket.setEncoding('latin1');
    // an idle timeout (re-armed by any traffic) is far cheaper than a timer per awaited reply
    socket.setTimeout(timeoutMs, () => this.fail(new Error(`no reply within ${timeoutMs} ms`)));
    socket.on('data', (chunk: string) => this.#onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(new Error(err.code ?? err.message)));
    socket.on('close', () => this.fail(new Error('connection closed by server')));
  }

  read(): Promise<SmtpReply> {
    const ready = this.#replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  fail(err: Error): void {
    if (this.#failure) return;
    this.#failure = err;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(err);
    this.socket.destroy();
  }

  #onData(chunk: string): void {
    let text = this.#buffered + chunk;
    let at = text.indexOf('\n');
    while (at !== -1) {
      const line = text.charCodeAt(at - 1) === 13 ? text.slice(0, at - 1) : text.slice(0, at);
      text = text.slice(at + 1);
      this.#lines.push(line);
      if (line.charCodeAt(3) !== 45 /* '-' */) {
        const reply: SmtpReply = { code: Number.parseInt(line.slice(0, 3), 10) || 0, lines: this.#lines };
        this.#lines = [];
        const waiter = this.#waiter;
        this.#waiter = undefined;
        if (waiter) waiter.resolve(reply);
        else this.#replies.push(reply);
      }
      at = text.indexOf('\n');
    }
    if (text.length > 4096) this.fail(new Error('reply line too long'));
    this.#buffered = text;
  }
}

function connect(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('connect timeout'));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      socket.setNoDelay(true);
      resolve(socket);
    });
    const onError = (err: NodeJS.ErrnoException): void => {
      clearTimeout(timer);
      reject(new Error(err.code ?? err.message));
    };
    socket.once('error', onError);
  });
}

const isPositive = (code: number): boolean => code >= 200 && code < 400;
const describe = (stage: string, reply: SmtpReply): string => `${stage}: ${reply.lines.join(' / ')}`;

/** Thrown inside a session when a reply says the connection cannot continue. */
class SessionError extends Error {}

/** Runs one load pass against host:port and returns its figures. Never throws for server misbehaviour. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { host, port, domain, replyTimeoutMs } = options;
  const from = 'bench@load.example';
  const latencies = new Float64Array(options.messages);
  const acceptedAtMs = new Float64Array(options.messages).fill(Number.NaN);
  const errors = new Map<string, number>();
  const bodies = new Map<number, Buffer>(); // by body length: headers differ by a byte or two per recipient
  const open = new Set<SmtpWire>();
  let next = 0;
  let accepted = 0;
  let failed = 0;
  let pipelined = 0;
  let connectionsOpened = 0;
  let expired = false;

  const noteError = (what: string): void => {
    failed++;
    errors.set(what, (errors.get(what) ?? 0) + 1);
  };

  const sendMessage = (wire: SmtpWire, to: string, i: number): void => {
    const head = messageHeader(from, to, messageId(options.tag, i, options.messages));
    const bodyLength = options.size - head.length;
    let body = bodies.get(bodyLength);
    if (!body) bodies.set(bodyLength, (body = messageBody(bodyLength)));
    wire.socket.cork();
    wire.write(head);
    wire.write(body);
    wire.write(`.${CRLF}`);
    wire.socket.uncork();
  };

  /** After a refused step: 421 ends the session, anything else is followed by RSET. */
  const recover = async (wire: SmtpWire, reply: SmtpReply): Promise<boolean> => {
    if (reply.code === 421) return false;
    wire.write(`RSET${CRLF}`);
    return isPositive((await wire.read()).code);
  };

  /** One transaction; resolves false when the connection must not be used again. */
  const transaction = async (wire: SmtpWire, canPipeline: boolean, i: number): Promise<boolean> => {
    const to = `user${i % options.users}@${domain}`;
    const commands = [
      ['MAIL', `MAIL FROM:<${from}>${CRLF}`],
      ['RCPT', `RCPT TO:<${to}>${CRLF}`],
      ['DATA', `DATA${CRLF}`],
    ] as const;
    const started = performance.now();
    if (canPipeline) {
      // RFC 2920: MAIL, RCPT and DATA may form one group; DATA ends it
      wire.write(commands[0][1] + commands[1][1] + commands[2][1]);
      const replies = [await wire.read(), await wire.read(), await wire.read()];
      const refused = replies.findIndex((r, k) => (k === 2 ? r.code !== 354 : !isPositive(r.code)));
      if (refused !== -1) {
        noteError(describe(commands[refused]?.[0] ?? '?', replies[refused] as SmtpReply));
        const dataReply = replies[2] as SmtpReply;
        if (dataReply.code !== 354) return recover(wire, dataReply);
        // DATA was accepted although MAIL or RCPT was not: close the data phase empty (RFC 2920 §3.1)
        wire.write(`.${CRLF}`);
        return recover(wire, await wire.read());
      }
    } else {
      for (const [stage, line] of commands) {
        wire.write(line);
        const reply = await wire.read();
        if (stage === 'DATA' ? reply.code !== 354 : !isPositive(reply.code)) {
          noteError(describe(stage, reply));
          return recover(wire, reply);
        }
      }
    }
    sendMessage(wire, to, i);
    const end = await wire.read();
    if (end.code >= 200 && end.code < 300) {
      latencies[accepted++] = performance.now() - started;
      acceptedAtMs[i] = sharedClockMs();
      return true;
    }
    noteError(describe('end of data', end));
    return end.code !== 421;
  };

  /** One connection: `first` is the message claimed for it, `reuse` keeps claiming until none are left. */
  const session = async (first: number, reuse: boolean): Promise<void> => {
    let socket: net.Socket;
    try {
      socket = await connect(host, port, replyTimeoutMs);
    } catch (err) {
      noteError(`connect: ${(err as Error).message}`); // the claimed message is lost, as a client sees it
      return;
    }
    connectionsOpened++;
    const wire = new SmtpWire(socket, replyTimeoutMs);
    open.add(wire);
    let inTransaction = false;
    try {
      const greeting = await wire.read();
      if (!isPositive(greeting.code)) throw new SessionError(describe('greeting', greeting));
      wire.write(`EHLO load.example${CRLF}`);
      const ehlo = await wire.read();
      if (!isPositive(ehlo.code)) throw new SessionError(describe('EHLO', ehlo));
      const canPipeline = ehlo.lines.some((l) => /^\d{3}[- ]PIPELINING\b/i.test(l));
      if (canPipeline) pipelined++;
      let i = first;
      for (;;) {
        inTransaction = true;
        const usable = await transaction(wire, canPipeline, i);
        inTransaction = false;
        if (!usable) {
          wire.fail(new Error('session abandoned after a failure'));
          return;
        }
        if (!reuse || next >= options.messages || expired) break;
        i = next++;
      }
      wire.write(`QUIT${CRLF}`);
      const bye = await wire.read();
      if (bye.code !== 221) noteError(describe('QUIT', bye));
      socket.end();
    } catch (err) {
      if (err instanceof SessionError) noteError(err.message);
      else if (inTransaction || !expired) noteError(`socket: ${(err as Error).message}`);
      wire.fail(err as Error);
    } finally {
      open.delete(wire);
    }
  };

  const worker = async (): Promise<void> => {
    while (next < options.messages && !expired) await session(next++, options.mode === 'reuse');
  };

  const cpu0 = process.cpuUsage();
  const startedAtMs = sharedClockMs();
  const t0 = performance.now();
  const deadline = setTimeout(() => {
    expired = true;
    for (const wire of open) wire.fail(new Error(`run deadline of ${options.deadlineMs} ms reached`));
  }, options.deadlineMs);
  await Promise.all(Array.from({ length: Math.max(1, options.connections) }, () => worker()));
  clearTimeout(deadline);
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const clientCpuMs = (cpu.user + cpu.system) / 1000;
  const sorted = latencies.slice(0, accepted).sort();
  return {
    accepted,
    failed,
    elapsedMs,
    msgsPerSec: accepted / (elapsedMs / 1000),
    latenciesMs: sorted,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    errors,
    clientCpuMs,
    clientCpuPct: (clientCpuMs / elapsedMs) * 100,
    pipelined,
    connectionsOpened,
    startedAtMs,
    acceptedAtMs,
  };
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** Times connect → 220 greeting, `count` times one after another; returns the sorted times in ms. */
export async function measureGreeting(host: string, port: number, count: number, timeoutMs: number): Promise<Float64Array> {
  const times = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    const t0 = performance.now();
    const socket = await connect(host, port, timeoutMs);
    const wire = new SmtpWire(socket, timeoutMs);
    const greeting = await wire.read();
    times[k] = performance.now() - t0;
    if (greeting.code !== 220) throw new Error(describe('greeting', greeting));
    wire.write(`QUIT${CRLF}`);
    await wire.read().catch(() => undefined);
    socket.end();
  }
  return times.sort();
}
