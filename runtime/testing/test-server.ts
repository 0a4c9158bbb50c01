/** Starts a real server (in this process) on a free loopback port with a fresh data dir, for tests. */
import { mkdtemp, rm, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/load-config.ts';
import type { ConfigInput } from '../config/schema.ts';
import { startServer, type RunningServer, type StartOptions } from '../server.ts';
import type { LogFields, LogLevel } from '../log/logger.ts';

export interface TestServer extends RunningServer {
  port: number;
  logs: { level: LogLevel; event: string; fields: LogFields }[];
  /** Files in `<mailboxes>/<domain>/<local>/new`, contents in name order. */
  mailbox(domain: string, local: string): Promise<Buffer[]>;
  /** Waits until the mailbox holds `count` messages (or throws after `timeoutMs`). */
  waitForMail(domain: string, local: string, count: number, timeoutMs?: number): Promise<Buffer[]>;
  stop(): Promise<void>;
}

export async function startTestServer(overrides: ConfigInput = {}, options: StartOptions = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? (await mkdtemp(join(tmpdir(), 'sluice-test-')));
  const ownsDir = overrides.dataDir === undefined;
  const config = parseConfig(
    {
      hostname: 'mx.test',
      domains: ['example.com', 'example.org'],
      ...overrides,
      dataDir,
      smtp: { listen: '127.0.0.1:0', ...(overrides.smtp ?? {}) },
      api: { enabled: false, ...(overrides.api ?? {}) },
    },
    'test',
  );
  const logs: TestServer['logs'] = [];
  const server = await startServer(config, (level, event, fields = {}) => logs.push({ level, event, fields }), options);
  const mailbox = async (domain: string, local: string): Promise<Buffer[]> => {
    const dir = join(server.mailboxDir, domain, local, 'new');
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch {
      return [];
    }
    return Promise.all(names.map((n) => readFile(join(dir, n))));
  };
  return {
    ...server,
    port: server.smtp.port,
    logs,
    mailbox,
    async waitForMail(domain, local, count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const got = await mailbox(domain, local);
        if (got.length >= count) return got;
        if (Date.now() > deadline) throw new Error(`mailbox ${local}@${domain} has ${got.length} of ${count} messages`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      await server.close();
      if (ownsDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs `fn` against a fresh server and always stops it. */
export async function withTestServer(fn: (s: TestServer) => Promise<void>, overrides: ConfigInput = {}): Promise<void> {
  const server = await startTestServer(overrides);
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}
