/**
 * Test support for the API and the admin CLI: the real agent registry over a real sandbox host
 * process (spawned only when an agent is first enabled), a real TrustStore and token store in a
 * fresh temp data dir, and a real API server on 127.0.0.1.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ReceiveEvents } from '../../sdk/event-payloads.ts';
import { AgentRegistry } from '../agents/registry.ts';
import { ReceiveDispatcher } from '../agents/receive-dispatcher.ts';
import { TrustStore } from '../agents/trust-store.ts';
import type { LogFields, LogLevel } from '../log/logger.ts';
import type { PolicyDecision } from '../smtp/session-types.ts';
import { SandboxHost } from '../sandbox/sandbox-host.ts';
import { createApiApp, type ManagementDeps } from './app.ts';
import { openApiStores, type ApiStores } from './api-stores.ts';
import { serveApi, type ApiTlsFiles } from './serve-api.ts';

export interface TestManagement {
  dataDir: string;
  trust: TrustStore;
  registry: AgentRegistry;
  /** The sandbox host process the registry runs agents in. */
  driver: SandboxHost;
  stores: ApiStores;
  deps: ManagementDeps;
  logs: { level: LogLevel; event: string; fields: LogFields }[];
  /** Runs one onRcptTo event through the enabled agents, as an SMTP session would. */
  rcptTo(recipient: string): Promise<PolicyDecision>;
  close(): Promise<void>;
}

/** The management deps as the server builds them, over a fresh temp data dir. A breaker opens after 2 failures. */
export async function openTestManagement(options: { maxBundleBytes?: number } = {}): Promise<TestManagement> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'sluice-api-'));
  const logs: TestManagement['logs'] = [];
  const log = (level: LogLevel, event: string, fields: LogFields = {}): void => {
    logs.push({ level, event, fields });
  };
  await mkdir(path.join(dataDir, 'agents'), { recursive: true });
  const trust = await TrustStore.open(path.join(dataDir, 'agents', 'trusted-keys.json'));
  const driver = new SandboxHost({ onLog: (line) => log('warn', 'sandbox.host', { line }) });
  const registry = await AgentRegistry.open({
    dataDir,
    trust,
    driver,
    driverInfo: { name: 'isolated-vm host process', guarantees: ['one V8 isolate per agent'] },
    log,
    breaker: { threshold: 2, cooldownMs: 60_000 },
  });
  const dispatcher = new ReceiveDispatcher(registry, driver, log);
  const stores = await openApiStores(dataDir);
  const deps: ManagementDeps = { admin: registry, trust, tokens: stores.tokens, audit: stores.audit, log, ...(options.maxBundleBytes ? { maxBundleBytes: options.maxBundleBytes } : {}) };
  const session = { id: 'test-session', client: { address: '192.0.2.1', port: 40000 }, helo: 'client.test' };
  return {
    dataDir,
    trust,
    registry,
    driver,
    stores,
    deps,
    logs,
    rcptTo: (recipient) =>
      dispatcher.decide('onRcptTo', { session, sender: 'a@example.net', recipient, params: {}, accepted: [] } satisfies ReceiveEvents['onRcptTo']),
    async close() {
      await stores.audit.close();
      await driver.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestApi extends TestManagement {
  url: string;
  adminToken: string;
  /** Reads the audit log's lines, parsed. */
  auditLines(): Promise<Record<string, unknown>[]>;
}

/** A real API server on 127.0.0.1 (a free port) over {@link openTestManagement}. */
export async function startTestApi(options: { maxBundleBytes?: number; tls?: ApiTlsFiles } = {}): Promise<TestApi> {
  const m = await openTestManagement(options);
  const app = createApiApp({
    version: '0.0.0-test',
    startedAt: Date.now(),
    smtp: { listen: '127.0.0.1:2525', connections: () => 3 },
    queue: () => ({ messages: 7, bytes: 7000 }),
    management: m.deps,
  });
  const server = await serveApi(app, '127.0.0.1', 0, options.tls);
  const adminToken = (await readFile(m.stores.adminToken.tokenFile, 'utf8')).trim();
  return {
    ...m,
    url: `${server.scheme}://127.0.0.1:${server.port}`,
    adminToken,
    async auditLines() {
      const text = await readFile(m.stores.audit.file, 'utf8');
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    async close() {
      await server.close();
      await m.close();
    },
  };
}

export interface TestResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body, or undefined when it is not JSON. */
  json: any;
}

/** One request to a test API: the admin token unless `token` says otherwise (`null`: none). */
export async function call(
  api: TestApi,
  method: string,
  pathname: string,
  options: { token?: string | null; json?: unknown; body?: Uint8Array | string; contentType?: string } = {},
): Promise<TestResponse> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? api.adminToken : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: Uint8Array | string | undefined = options.body;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] = 'application/json';
  }
  if (options.contentType !== undefined) headers['content-type'] = options.contentType;
  // A copy typed over a plain ArrayBuffer: what every runtime's BodyInit accepts.
  const payload = typeof body === 'string' || body === undefined ? body : new Uint8Array(body);
  const res = await fetch(`${api.url}${pathname}`, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}
