/** The one mapping from the domain's typed errors (registry, trust store, token store, queue) to HTTP problems. */
import { RegistryError, type RegistryErrorCode } from '../agents/registry-types.ts';
import { TrustStoreError, type TrustStoreErrorCode } from '../agents/trust-store.ts';
import { QueueAdminError } from '../pipeline/queue-admin.ts';
import { ApiProblem } from './problem.ts';
import { TokenStoreError, type TokenStoreErrorCode } from './token-store.ts';

const REGISTRY_STATUS: Record<RegistryErrorCode, number> = {
  NOT_FOUND: 404,
  BUNDLE_REJECTED: 422,
  DOWNGRADE: 409,
  SAME_VERSION_DIFFERENT_CODE: 409,
  INVALID_CONFIG: 422,
  INVALID_GRANT: 422,
  INVALID_BUDGET: 422,
  LOAD_FAILED: 422,
  STORAGE: 500,
};

const TRUST_STATUS: Record<TrustStoreErrorCode, number> = {
  MALFORMED_KEY: 422,
  DUPLICATE_KEY: 409,
  UNKNOWN_KEY: 404,
  CORRUPT_STORE: 500,
};

const TOKEN_STATUS: Record<TokenStoreErrorCode, number> = {
  INVALID_NAME: 422,
  DUPLICATE_NAME: 409,
  UNKNOWN_TOKEN: 404,
  CORRUPT_STORE: 500,
};

const QUEUE_STATUS: Record<QueueAdminError['code'], number> = {
  NOT_FOUND: 404,
  BUSY: 409,
  NOT_HELD: 409,
  NO_SUCH_QUEUE: 400,
  SPOOL: 503,
};

/** The queue's problems name the path parameter they are about; a busy message is worth retrying in a second. */
function queueProblem(error: QueueAdminError): ApiProblem {
  const field = error.code === 'NO_SUCH_QUEUE' ? 'queue' : error.code === 'NOT_FOUND' ? 'id' : undefined;
  return new ApiProblem(QUEUE_STATUS[error.code], error.code, error.message, {
    ...(field === undefined ? {} : { field, errors: [{ field, message: error.message }] }),
    ...(error.code === 'BUSY' ? { headers: { 'retry-after': '1' } } : {}),
    cause: error,
  });
}

/** The problem for a thrown error; anything unknown is a 500 whose detail does not leak internals. */
export function problemFor(error: unknown): ApiProblem {
  if (error instanceof ApiProblem) return error;
  if (error instanceof RegistryError) {
    // A rejected bundle's own verifier code (UNSIGNED, BAD_SIGNATURE, …) is the more useful code.
    const code = error.code === 'BUNDLE_REJECTED' && error.detail !== undefined ? error.detail : error.code;
    return new ApiProblem(REGISTRY_STATUS[error.code], code, error.message, {
      ...(error.field === undefined ? {} : { field: error.field, errors: [{ field: error.field, message: error.message }] }),
      cause: error,
    });
  }
  if (error instanceof TrustStoreError) {
    return new ApiProblem(TRUST_STATUS[error.code], error.code, error.message, { cause: error });
  }
  if (error instanceof TokenStoreError) {
    return new ApiProblem(TOKEN_STATUS[error.code], error.code, error.message, { ...(error.field ? { field: error.field } : {}), cause: error });
  }
  if (error instanceof QueueAdminError) return queueProblem(error);
  return new ApiProblem(500, 'INTERNAL', 'the server failed to handle the request; see its log', { cause: error });
}
