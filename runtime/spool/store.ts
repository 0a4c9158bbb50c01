/**
 * The contract between the receive side, the queue runner and a spool implementation. A store
 * behind this interface may be local (the journal) or shared by several nodes later (DESIGN §6),
 * so work is claimed with leases that expire, never with process-local locks.
 */
import type { Envelope } from './envelope.ts';
import type { DeliveryState } from './delivery-state-schema.ts';

export type { DeliveryState, RecipientStatus, RoutedRecipient } from './delivery-state-schema.ts';

export interface Lease {
  readonly id: string;
  readonly token: string;
  readonly expiresAt: number;
}

export interface Claim {
  lease: Lease;
  envelope: Envelope;
  state: DeliveryState;
}

export interface RecoveryReport {
  /** Messages found live (accepted, not completed). */
  recovered: number;
  /** Damaged entries moved to the quarantine folder, with where they went. */
  quarantined: { file: string; reason: string }[];
}

/** A live message as the queue API shows it (read-only: do not modify). */
export interface SpooledMessage {
  readonly envelope: Envelope;
  readonly state: DeliveryState;
  /** Someone holds a lease on it right now. */
  readonly leased: boolean;
}

export interface SpoolStats {
  messages: number;
  bytes: number;
}

export interface SpoolStore {
  /** Replays what is on disk; damaged entries are set aside, never delivered half. */
  open(): Promise<RecoveryReport>;
  /**
   * Resolves only once envelope and message are durable (the caller may then answer 250).
   * Rejects with a `SpoolError` (never resolves) if that cannot be guaranteed.
   */
  accept(envelope: Envelope, message: readonly Uint8Array[]): Promise<void>;
  /** Up to `max` messages due at `now`, each leased for `leaseMs`. */
  claim(now: number, max: number, leaseMs: number): Promise<Claim[]>;
  /** Leases this one message whatever its due time (admin actions); null while another lease holds it. NOT_FOUND when absent. */
  claimById(id: string, now: number, leaseMs: number): Promise<Claim | null>;
  /** Every live message, for inspection. */
  list(): SpooledMessage[];
  /** The stored message bytes (trace header included). */
  read(id: string): Promise<Uint8Array>;
  /** Durably records a new delivery state and ends the lease. */
  update(lease: Lease, state: DeliveryState): Promise<void>;
  /** Every recipient is final: the message leaves the spool. */
  complete(lease: Lease): Promise<void>;
  /** Calls `listener` whenever something may have become claimable; returns an unsubscribe. */
  subscribe(listener: () => void): () => void;
  stats(): SpoolStats;
  close(): Promise<void>;
}
