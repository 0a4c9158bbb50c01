/** The socket edge of one SMTP session: timers, TLS upgrade, back-pressure. Protocol lives in session.ts. */
import type net from 'node:net';
import tls from 'node:tls';
import { SmtpSession, type SessionConfig, type SessionPorts, type TlsInfo } from './session.ts';
import { SessionTimer } from './session-timer.ts';

/** Stop reading from a client whose unprocessed input passes this. */
const READ_BACKLOG_LIMIT = 1024 * 1024;
/** A client that does not read its replies is cut off past this. */
const WRITE_BACKLOG_LIMIT = 1024 * 1024;
const CLOSE_GRACE_MS = 5000;

export interface ConnectionOptions {
  session: SessionConfig;
  ports: SessionPorts;
  secureContext: tls.SecureContext | null;
  /** Wait this long before the greeting; a client that talks first is an early talker. 0: greet at once. */
  greetingDelayMs: number;
  /** The session is over (we closed it, or the peer did): the connection no longer counts against limits. */
  onRelease(): void;
  onClose(summary: ConnectionSummary): void;
}

export interface ConnectionSummary {
  remoteAddress: string;
  remotePort: number;
  helo: string | null;
  user: string | null;
  tls: TlsInfo | null;
  messages: number;
  rejected: number;
  end: string;
  durationMs: number;
}

/** Runs an SMTP session on an accepted socket; returns a handle the listener uses at shutdown. */
export function serveConnection(socket: net.Socket, opts: ConnectionOptions): { shutdown(): void } {
  const started = Date.now();
  let stream: net.Socket | tls.TLSSocket = socket;
  const timer = new SessionTimer(() => session.timeout());
  let greeted = opts.greetingDelayMs <= 0;
  let closing = false;
  let finished = false;
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    opts.onRelease();
  };

  socket.setNoDelay(true);

  const onData = (chunk: Buffer): void => {
    if (!greeted) {
      greeted = true;
      return session.pregreet();
    }
    timer.activity();
    session.push(chunk);
    if (session.backlog > READ_BACKLOG_LIMIT) stream.pause();
  };

  const session = new SmtpSession(opts.session, opts.ports, {
    write(text) {
      if (stream.destroyed) return;
      if (stream.writableLength > WRITE_BACKLOG_LIMIT) return void stream.destroy();
      stream.write(text);
    },
    close() {
      if (closing) return;
      closing = true;
      timer.stop();
      release();
      stream.end();
      setTimeout(() => stream.destroy(), CLOSE_GRACE_MS).unref?.();
    },
    startTls() {
      const context = opts.secureContext;
      if (context === null) return Promise.reject(new Error('no TLS context'));
      // Detach first: whatever arrives from here on belongs to the TLS layer, never to the session.
      socket.removeListener('data', onData);
      // Deno stalls some handshakes if the plain socket is still flowing when it is wrapped.
      socket.pause();
      const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context });
      stream = secure;
      // Listen at once: some runtimes emit early application data before 'secure' and drop it if
      // nobody listens. The session is still awaiting this promise, so it frames that data only
      // after it has reset its state for the TLS session.
      secure.on('data', onData);
      return new Promise<TlsInfo>((resolve, reject) => {
        secure.once('secure', () => {
          secure.removeListener('error', reject);
          secure.on('error', () => {});
          resolve({ protocol: secure.getProtocol() ?? 'TLS', cipher: secure.getCipher()?.name ?? 'unknown' });
        });
        secure.once('error', reject);
        secure.once('close', () => reject(new Error('closed during TLS handshake')));
      });
    },
    deadline(ms) {
      timer.deadline(ms);
    },
    idle(ms) {
      timer.idle(ms);
    },
    drained() {
      if (stream.isPaused()) stream.resume();
    },
  });

  socket.on('data', onData);
  socket.on('error', () => {});
  socket.on('close', () => {
    if (finished) return;
    finished = true;
    timer.stop();
    release();
    session.closedByPeer();
    opts.onClose({
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      helo: session.helo,
      user: session.user,
      tls: session.tls,
      messages: session.stats.messages,
      rejected: session.stats.rejected,
      end: session.stats.end,
      durationMs: Date.now() - started,
    });
  });

  if (greeted) session.start();
  else {
    const greetTimer = setTimeout(() => {
      if (greeted) return;
      greeted = true;
      session.start();
    }, opts.greetingDelayMs);
    socket.once('close', () => clearTimeout(greetTimer));
  }

  return { shutdown: () => session.shutdown() };
}
