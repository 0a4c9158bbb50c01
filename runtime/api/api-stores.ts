/** Opens the API's files in the data dir: the token store (making the first admin token) and the audit log. */
import path from 'node:path';
import { AuditLog } from './audit-log.ts';
import { ensureAdminToken, TokenStore } from './token-store.ts';

export const AUDIT_LOG_FILE = 'audit.log';

export interface ApiStores {
  tokens: TokenStore;
  audit: AuditLog;
  /** Where the admin token's plaintext is, and whether it was made by this call (print it in the banner). */
  adminToken: { tokenFile: string; created: boolean };
}

export async function openApiStores(dataDir: string): Promise<ApiStores> {
  const adminToken = await ensureAdminToken(dataDir);
  const tokens = await TokenStore.open(dataDir);
  const audit = await AuditLog.open(path.join(dataDir, AUDIT_LOG_FILE));
  return { tokens, audit, adminToken };
}
