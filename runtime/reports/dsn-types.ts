/** The data a delivery status notification is built from: the contract between the queue and `buildDsn`. */

/** RFC 3464 §2.3.3. */
export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';

export interface DsnRecipient {
  /** Final recipient (as routed). */
  address: string;
  /** From the envelope (RFC 3461 ORCPT, already xtext-decoded). */
  orcpt?: { type: string; address: string };
  action: DsnAction;
  /** RFC 3463 code, e.g. '5.1.1'. */
  status: string;
  /** The full SMTP reply, e.g. '550 5.1.1 no such user'. */
  diagnostic?: string;
  /** Host that answered. */
  remoteMta?: string;
  /** Epoch ms. */
  lastAttemptAt?: number;
  /** Epoch ms (delayed only). */
  willRetryUntil?: number;
}

export interface DsnInput {
  /** Our hostname. */
  reportingMta: string;
  envelope: {
    id: string;
    sender: string;
    envid?: string;
    ret?: 'FULL' | 'HDRS';
    receivedAt: number;
    client?: { address: string; helo: string };
  };
  /** Non-empty; only the recipients this report is about (the caller filters with `wantsReport`). */
  recipients: DsnRecipient[];
  /** The stored message (CRLF lines). */
  original: Uint8Array;
  now: number;
  /** Message-ID for the report, without <>, e.g. 'dsn.<id>.<n>@host'. */
  messageId: string;
  /** Default 1 MiB: above it, headers only (the human-readable part says so). */
  maxReturnBytes?: number;
}

export interface BuiltDsn {
  /** A DSN is always sent with the null reverse-path (RFC 5321 §4.5.5). */
  sender: '';
  /** The original envelope sender. */
  recipient: string;
  message: Uint8Array;
}

/** One reported recipient as both parts of the report show it, every value from elsewhere made safe. */
export interface PreparedRecipient {
  recipient: DsnRecipient;
  /** The original recipient (ORCPT) for the prose, when it differs from the final one. */
  original?: string;
  diagnostic?: string;
  remoteMta?: string;
}
