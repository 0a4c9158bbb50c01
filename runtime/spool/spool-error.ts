/** Typed spool failures: each code maps to one SMTP reply (see smtp/replies.ts). */

export type SpoolErrorCode =
  /** No space or quota left: RFC 3463 4.3.1, "insufficient system storage". */
  | 'SPOOL_FULL'
  /** Any other write or fsync failure: the entry is not durable. */
  | 'SPOOL_IO'
  /** The store is closed or closing. */
  | 'SPOOL_CLOSED'
  /** The lease expired or was superseded; the caller must not act on the claim. */
  | 'LEASE_LOST'
  | 'NOT_FOUND';

export class SpoolError extends Error {
  readonly code: SpoolErrorCode;
  constructor(code: SpoolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SpoolError';
    this.code = code;
  }
}

/** Classifies a file-system error from a write or sync. */
export function spoolErrorFrom(err: unknown, what: string): SpoolError {
  const code = (err as { code?: string } | null)?.code;
  const full = code === 'ENOSPC' || code === 'EDQUOT';
  return new SpoolError(full ? 'SPOOL_FULL' : 'SPOOL_IO', `${what}: ${code ?? String(err)}`, { cause: err });
}
