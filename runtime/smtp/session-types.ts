/** The session's contract with its surroundings: limits, injected effects and the socket edge. */
import type { ReplyKey } from './replies.ts';
import type { Transaction } from './transaction.ts';
import type { LogFn } from '../log/logger.ts';

export interface SessionLimits {
  /** Command line including CRLF (RFC 5321 4.5.3.1.4: at least 512). */
  commandLineOctets: number;
  /** Text line of the message including CRLF (RFC 5321 4.5.3.1.6: 1000). */
  textLineOctets: number;
  messageSize: number;
  recipients: number;
  errors: number;
  unknownCommands: number;
  authFailures: number;
  messagesPerConnection: number;
}

export interface SessionTimeouts {
  /** Per-request deadline for a whole command line to arrive. */
  commandMs: number;
  /** Longest silence inside DATA/BDAT content. */
  dataIdleMs: number;
  /** Deadline for one DATA or BDAT transfer as a whole. */
  dataTotalMs: number;
  tlsHandshakeMs: number;
}

export interface SessionConfig {
  hostname: string;
  limits: SessionLimits;
  timeouts: SessionTimeouts;
  isLocalDomain(domain: string): boolean;
  /** Per connection: the client's address and port, and whether it is in a relay network. */
  client: { address: string; port: number };
  relayClient: boolean;
  tlsAvailable: boolean;
  authAvailable: boolean;
  allowPlaintextAuth: boolean;
}

export interface TlsInfo {
  protocol: string;
  cipher: string;
}

export interface CommitContext {
  client: { address: string; port: number };
  helo: string;
  user: string | null;
  tls: TlsInfo | null;
  /** RFC 3848 protocol name for the trace header. */
  protocol: string;
}

export type CommitResult = { ok: true; id: string } | { ok: false; reply: ReplyKey };

export interface SessionPorts {
  /** Makes the message durable; resolves `ok` only once it is (then the session answers 250). */
  commit(tx: Transaction, context: CommitContext): Promise<CommitResult>;
  verifyPassword(user: string, password: string): Promise<'ok' | 'invalid' | 'error'>;
  log: LogFn;
}

export interface SessionIO {
  write(text: string): void;
  /** Ends the connection once pending replies are written. */
  close(): void;
  /** Upgrades to TLS; plaintext that arrives after this call never reaches the session. */
  startTls(): Promise<TlsInfo>;
  /** Replaces the deadline (ms from now); null clears it. */
  deadline(ms: number | null): void;
  /** Replaces the idle timeout, restarted by every received chunk; null clears it. */
  idle(ms: number | null): void;
  /** The session has processed everything it was given. */
  drained(): void;
}
