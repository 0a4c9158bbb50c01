/** The contract every delivery connector implements: Maildir, outbound SMTP and delivery agents. */
import type { Envelope } from '../spool/envelope.ts';

/**
 * Where a delivery queue sends to. The queue key is `${connector}:${destination}`: one queue per
 * next hop, as Exchange keeps one per next-hop domain or smart host.
 */
export interface NextHop {
  /** The connector's name (`maildir`, or a configured connector). */
  connector: string;
  /**
   * What the connector connects to: for `smtp`, a domain whose MX records are looked up, or a host
   * (`mx.example.com`, `[192.0.2.1]`, either with `:port`) when a routing override named one; for
   * `maildir`, the recipient domain; for `agent`, the recipient domain.
   */
  destination: string;
}

export interface ConnectorItem {
  envelope: Envelope;
  message: Uint8Array;
  /**
   * The recipients this connector is asked to deliver: `index` is the caller's handle for the
   * recipient (echoed in the outcome), `address` the routed mailbox.
   */
  recipients: { index: number; address: string; domain: string; localPart: string }[];
}

export type RecipientOutcome =
  | { index: number; outcome: 'delivered'; detail: string; remoteMta?: string }
  | { index: number; outcome: 'deferred'; reply: string; remoteMta?: string; hopDown?: boolean }
  | { index: number; outcome: 'failed'; reply: string; remoteMta?: string };

export interface Connector {
  readonly name: string;
  /**
   * Delivers a batch to one next hop; resolves with one outcome per requested recipient, per item,
   * in order. Never rejects. `reply` is a full SMTP reply with its enhanced code (`451 4.4.1 …`).
   * `hopDown` marks a deferral because the next hop itself could not be reached (no connection,
   * no greeting, TLS required but not offered): the queue counts those towards marking it down.
   * `remoteMta` names the host that answered, for DSNs.
   */
  deliver(hop: NextHop, items: readonly ConnectorItem[]): Promise<RecipientOutcome[][]>;
  /** Releases threads, sockets and files; called once delivery has stopped. */
  close?(): Promise<void>;
}
