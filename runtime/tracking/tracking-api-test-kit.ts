/**
 * Test support for the tracking route and `sluice track`: the API test kit's management deps and a
 * real tracking log in its temp data dir, served by a real API server on 127.0.0.1.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { openTestManagement, type TestApi } from '../api/api-test-kit.ts';
import { createApiApp } from '../api/app.ts';
import { serveApi } from '../api/serve-api.ts';
import { TrackingLog } from './tracking-log.ts';

/** Runs `fn` against the server; `tracking: false` serves the API without a tracking log. */
export async function withTrackingApi(fn: (api: TestApi, tracking: TrackingLog) => Promise<void>, options: { tracking?: boolean } = {}): Promise<void> {
  const m = await openTestManagement();
  const tracking = new TrackingLog({ dir: path.join(m.dataDir, 'tracking'), log: m.deps.log });
  await tracking.open();
  const app = createApiApp({
    version: '0.0.0-test',
    startedAt: Date.now(),
    smtp: { listen: '127.0.0.1:2525', connections: () => 0 },
    queue: () => ({ messages: 0, bytes: 0 }),
    management: { ...m.deps, ...(options.tracking === false ? {} : { tracking }) },
  });
  const server = await serveApi(app, '127.0.0.1', 0);
  const api: TestApi = {
    ...m,
    url: `http://127.0.0.1:${server.port}`,
    adminToken: (await readFile(m.stores.adminToken.tokenFile, 'utf8')).trim(),
    async auditLines() {
      const text = await readFile(m.stores.audit.file, 'utf8');
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    close: async () => {},
  };
  try {
    await fn(api, tracking);
  } finally {
    await server.close();
    await tracking.close();
    await m.close();
  }
}
