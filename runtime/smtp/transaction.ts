/** One mail transaction (MAIL … end of data): envelope facts and the message content as it arrives. */
import type { MailParams, RcptParams } from './params.ts';
import type { ContentStats } from './framer.ts';

export interface TransactionRecipient {
  address: string;
  params: RcptParams;
}

export type TransactionOutcome = { kind: 'ok' } | { kind: 'too-big' } | { kind: 'long-line' };

export class Transaction {
  readonly sender: string;
  readonly params: MailParams;
  readonly recipients: TransactionRecipient[] = [];
  readonly chunks: Uint8Array[] = [];
  /** Content octets received, including any dropped after the size limit was passed. */
  size = 0;
  dataStarted = false;
  /** Set by BDAT; a BDAT transaction ends with the chunk marked LAST. */
  bdatLast: boolean | undefined = undefined;
  #tooBig = false;
  readonly #seen = new Set<string>();

  constructor(sender: string, params: MailParams) {
    this.sender = sender;
    this.params = params;
  }

  get isBdat(): boolean {
    return this.bdatLast !== undefined;
  }

  has(address: string): boolean {
    return this.#seen.has(address.toLowerCase());
  }

  /** A repeated recipient is acknowledged again but stored once. */
  addRecipient(address: string, params: RcptParams): void {
    const key = address.toLowerCase();
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.recipients.push({ address, params });
  }

  /** Keeps content up to the size limit; past it, only counts (the client is told at the end). */
  append(chunk: Uint8Array, limit: number): void {
    this.size += chunk.length;
    if (this.size > limit) {
      this.#tooBig = true;
      this.chunks.length = 0;
    }
    if (!this.#tooBig) this.chunks.push(chunk);
  }

  /** Replaces the content with `message` (after agents' header edits). */
  replaceContent(message: Uint8Array): void {
    this.chunks.length = 0;
    this.chunks.push(message);
    this.size = message.length;
  }

  outcome(stats: ContentStats, limits: { textLineOctets: number }): TransactionOutcome {
    if (this.#tooBig) return { kind: 'too-big' };
    if (stats.longestLine > limits.textLineOctets) return { kind: 'long-line' };
    return { kind: 'ok' };
  }
}
