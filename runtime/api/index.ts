export { createApiApp, apiRoutes, DEFAULT_MAX_BUNDLE_BYTES, type ApiDeps, type HealthSource, type ManagementDeps } from './app.ts';
export { serveApi, type ApiServer, type ApiTlsFiles } from './serve-api.ts';
export { checkApiBind, isLoopbackHost } from './check-api-bind.ts';
export { openApiStores, AUDIT_LOG_FILE, type ApiStores } from './api-stores.ts';
export { ensureAdminToken, TokenStore, TokenStoreError, type TokenInfo, type TokenRole } from './token-store.ts';
export { AuditLog, type AuditEntry } from './audit-log.ts';
