export { runAdminCommand, ADMIN_GROUPS } from './run-admin-command.ts';
export type { AdminIo } from './admin-context.ts';
