/**
 * For tests: a receiving MTA (nodemailer's smtp-server) on a loopback address, with scripted
 * replies per recipient, to MAIL FROM and to the end of DATA, optional STARTTLS with a self-signed
 * certificate and optional AUTH; it records every connection and transaction.
 */
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';
import { generate } from 'selfsigned';
import { freePort } from '../testing/free-port.ts';

export interface SmtpPeerOptions {
  /** Address to listen on; default 127.0.0.1 (any 127.0.0.0/8 address works on Linux). */
  host?: string;
  /** Port; default a free one. */
  port?: number;
  /** Reply by recipient address (lowercase), e.g. `'450 4.2.1 mailbox busy'`; others get 250. */
  rcpt?: Record<string, string>;
  /** Reply to MAIL FROM instead of 250. */
  mail?: string;
  /** Reply to the end of DATA instead of 250. */
  data?: string;
  /** Refuse the session with this reply instead of the 220 greeting. */
  greeting?: string;
  /** Offer STARTTLS with a self-signed certificate; default off. */
  starttls?: boolean;
  /** Advertise SMTPUTF8; default on. */
  smtputf8?: boolean;
  /** Require AUTH PLAIN/LOGIN with these credentials. */
  auth?: { user: string; pass: string };
}

export interface PeerTransaction {
  session: string;
  /** '' for the null sender. */
  from: string;
  /** MAIL FROM parameters (uppercase keys). */
  mailArgs: Record<string, unknown>;
  to: string[];
  /** RCPT TO NOTIFY per recipient, when given. */
  notify: Record<string, string[]>;
  /** RET / ENVID from MAIL FROM. */
  dsn: { ret?: string | null; envid?: string | null };
  secure: boolean;
  user?: string;
  /** The message as smtp-server hands it over (dot-unstuffed, CRLF, without the final dot). */
  message: Buffer;
}

export interface SmtpPeer {
  host: string;
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Connections that have ended. */
  closed: number;
  transactions: PeerTransaction[];
  close(): Promise<void>;
}

let certificate: Promise<{ key: string; cert: string }> | undefined;

function selfSigned(): Promise<{ key: string; cert: string }> {
  certificate ??= (async () => {
    const now = new Date();
    const pems = await generate([{ name: 'commonName', value: 'peer.test' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate: new Date(now.getTime() - 3600_000),
      notAfterDate: new Date(now.getTime() + 24 * 3600_000),
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'peer.test' }, { type: 7, ip: '127.0.0.1' }] }],
    });
    return { key: pems.private, cert: pems.cert };
  })();
  return certificate;
}

/** `'450 4.2.1 busy'` as the error smtp-server sends verbatim (enhanced codes are not added: they are hidden). */
function replyError(reply: string): Error {
  const match = /^(\d{3})\s?(.*)$/.exec(reply);
  const error = new Error(match?.[2] ?? reply) as Error & { responseCode?: number };
  error.responseCode = Number(match?.[1] ?? 550);
  return error;
}

function isSuccess(reply: string | undefined): boolean {
  return reply === undefined || reply.startsWith('2');
}

export async function startSmtpPeer(options: SmtpPeerOptions = {}): Promise<SmtpPeer> {
  const host = options.host ?? '127.0.0.1';
  const tls = options.starttls ? await selfSigned() : undefined;
  const disabled = [...(tls ? [] : ['STARTTLS']), ...(options.auth ? [] : ['AUTH'])];
  const peer: SmtpPeer = { host, port: 0, connections: 0, closed: 0, transactions: [], close: async () => {} };
  const server = new SMTPServer({
    logger: false,
    secure: false,
    ...(tls ?? {}),
    disabledCommands: disabled,
    hideSTARTTLS: !tls,
    hideSMTPUTF8: options.smtputf8 === false,
    hideDSN: false,
    // Replies are written out in full by the tests, enhanced code included.
    hideENHANCEDSTATUSCODES: true,
    disableReverseLookup: true,
    authOptional: !options.auth,
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) return callback(null, { user: auth.username });
      return callback(replyError('535 5.7.8 authentication failed'));
    },
    onConnect(_session, callback) {
      peer.connections++;
      callback(options.greeting ? replyError(options.greeting) : null);
    },
    onClose() {
      peer.closed++;
    },
    onMailFrom(_address, _session, callback) {
      callback(isSuccess(options.mail) ? null : replyError(options.mail ?? ''));
    },
    onRcptTo(address: SMTPServerAddress, _session, callback) {
      const reply = options.rcpt?.[address.address.toLowerCase()];
      callback(isSuccess(reply) ? null : replyError(reply ?? ''));
    },
    onData(stream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const { mailFrom, rcptTo } = session.envelope;
        const notify: Record<string, string[]> = {};
        for (const r of rcptTo) if (r.dsn?.notify) notify[r.address] = [...r.dsn.notify];
        const envelopeDsn = (session.envelope as { dsn?: { ret?: string | null; envid?: string | null } }).dsn ?? {};
        peer.transactions.push({
          session: session.id,
          from: mailFrom ? mailFrom.address : '',
          mailArgs: mailFrom && mailFrom.args ? { ...mailFrom.args } : {},
          to: rcptTo.map((r) => r.address),
          notify,
          dsn: { ret: envelopeDsn.ret ?? null, envid: envelopeDsn.envid ?? null },
          secure: session.secure,
          ...(typeof session.user === 'string' ? { user: session.user } : {}),
          message: Buffer.concat(chunks),
        });
        callback(isSuccess(options.data) ? null : replyError(options.data ?? ''));
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.server.address();
  peer.port = typeof address === 'object' && address !== null ? address.port : 0;
  peer.close = () => new Promise((resolve) => server.close(() => resolve()));
  return peer;
}

/** A port on `host` with nothing listening: connections to it are refused. */
export const closedPort = freePort;
