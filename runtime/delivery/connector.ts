/** The contract every delivery connector implements (Maildir now; SMTP and delivery agents later). */
import type { Envelope } from '../spool/envelope.ts';

export interface ConnectorItem {
  envelope: Envelope;
  message: Uint8Array;
  /** Indexes into `envelope.recipients` this connector is asked to deliver, with their routed address. */
  recipients: { index: number; domain: string; localPart: string }[];
}

export type RecipientOutcome =
  | { index: number; outcome: 'delivered'; detail: string }
  | { index: number; outcome: 'deferred'; reply: string }
  | { index: number; outcome: 'failed'; reply: string };

export interface Connector {
  readonly name: string;
  /** Delivers a batch; resolves with one outcome per requested recipient, per item, in order. Never rejects. */
  deliver(items: readonly ConnectorItem[]): Promise<RecipientOutcome[][]>;
  /** Releases threads, sockets and files; called once delivery has stopped. */
  close?(): Promise<void>;
}
