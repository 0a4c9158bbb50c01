/** The session's contract with its surroundings: limits, injected effects and the socket edge. */
import type { ReplyKey } from './replies.ts';
import type { Transaction } from './transaction.ts';
import type { LogFn } from '../log/logger.ts';
import type { ReceiveEvents } from '../../sdk/event-payloads.ts';
import type { HeaderEdit } from '../../sdk/verdict-schema.ts';

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
  /** RCPT-time recipient validation: false for a local address with no mailbox, alias or group (550 5.1.1). Absent: every local address is taken. */
  isKnownRecipient?: (address: string) => boolean;
  /** Per connection: the client's address and port, and whether it is in a relay network. */
  client: { address: string; port: number };
  /** Per connection: a unique id agents see as `session.id` (default: generated). */
  sessionId?: string;
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

export type ReceiveEventName = keyof ReceiveEvents;

/** What the receive agents decided for one event (the chain's merged verdict). */
export type PolicyDecision =
  | { verdict: 'continue'; headers?: HeaderEdit[] }
  | { verdict: 'reject' | 'tempfail'; code: number; enhanced: string; text: string }
  | { verdict: 'disconnect'; text?: string };

/** The policy layer over the session: receive agents. The session asks only for events someone subscribed to. */
export interface ReceivePolicy {
  /** Cheap and synchronous: whether any enabled agent handles `event` now. */
  wants(event: ReceiveEventName): boolean;
  /** Whether an agent handling onEndOfData asked for the message body. */
  wantsBody(): boolean;
  /** Runs the chain; never rejects (agent failures become the failure policy's decision). */
  decide<E extends ReceiveEventName>(event: E, payload: ReceiveEvents[E]): Promise<PolicyDecision>;
  /** Observers (onReject, onDisconnect): run without waiting; their verdicts are ignored. */
  observe<E extends 'onReject' | 'onDisconnect'>(event: E, payload: ReceiveEvents[E]): void;
}

export interface SessionPorts {
  /** Makes the message durable; resolves `ok` only once it is (then the session answers 250). */
  commit(tx: Transaction, context: CommitContext): Promise<CommitResult>;
  verifyPassword(user: string, password: string): Promise<'ok' | 'invalid' | 'error'>;
  log: LogFn;
  /** Receive agents; absent when none are configured. */
  policy?: ReceivePolicy;
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
