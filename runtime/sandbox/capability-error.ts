/** The one error type capability calls fail with: a stable code, and a message that names the call and the field. */

export type CapabilityErrorCode = 'not-granted' | 'invalid-argument' | 'limit' | 'timeout' | 'busy' | 'failed';

/** Its message reaches the agent as the message of an Error thrown inside the sandbox. */
export class CapabilityError extends Error {
  readonly code: CapabilityErrorCode;

  constructor(code: CapabilityErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CapabilityError';
    this.code = code;
  }
}

/** A short reason for an unexpected failure, without host paths or stack: the error's code or name. */
export function failureReason(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const { code, cause } = error as { code?: unknown; cause?: unknown };
    if (typeof code === 'string') return code;
    if (cause !== undefined && cause !== error) return failureReason(cause);
    if (error instanceof Error) return error.name === 'Error' ? error.message : `${error.name}: ${error.message}`;
  }
  return String(error);
}
