/** Wires the server together from a validated config: spool, SMTP listener, queue runner, management API. */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Config } from './config/schema.ts';
import { splitHostPort } from './config/load-config.ts';
import type { LogFn, LogLevel } from './log/logger.ts';
import { JournalStore } from './spool/journal-store.ts';
import { newQueueId } from './spool/queue-id.ts';
import { SmtpListener } from './smtp/smtp-listener.ts';
import { NetworkList } from './smtp/cidr.ts';
import { PasswordTable } from './smtp/password.ts';
import { loadTlsMaterial, type TlsMaterial } from './smtp/tls-material.ts';
import { createAcceptor } from './pipeline/accept-message.ts';
import { Router } from './routing/router.ts';
import { RecipientResolver } from './routing/recipient-resolver.ts';
import { Categorizer } from './pipeline/categorizer.ts';
import { RoutingChain } from './pipeline/routing-chain.ts';
import { LinkState } from './pipeline/link-state.ts';
import { QueueAdmin } from './pipeline/queue-admin.ts';
import { BodyStore } from './pipeline/body-store.ts';
import { CrashMarks } from './pipeline/crash-marks.ts';
import { TrackingLog } from './tracking/tracking-log.ts';
import { buildConnectors } from './pipeline/build-connectors.ts';
import { QueueRunner } from './pipeline/queue-runner.ts';
import { createApiApp } from './api/app.ts';
import { serveApi, type ApiServer } from './api/serve-api.ts';
import { checkApiBind, isLoopbackHost } from './api/check-api-bind.ts';
import { openApiStores } from './api/api-stores.ts';
import { VERSION } from './version.ts';
import { TrustStore } from './agents/trust-store.ts';
import { AgentRegistry } from './agents/registry.ts';
import { ReceiveDispatcher } from './agents/receive-dispatcher.ts';
import { selectSandboxDriver } from './sandbox/select-driver.ts';
import { frameCapFor } from './sandbox/frame-codec.ts';

export interface RunningServer {
  hostname: string;
  dataDir: string;
  mailboxDir: string;
  smtp: { host: string; port: number };
  api: { host: string; port: number; scheme: 'http' | 'https'; tokenFile: string; tokenCreated: boolean } | null;
  tls: TlsMaterial;
  recovered: { messages: number; quarantined: number };
  spool: JournalStore;
  agents: AgentRegistry;
  trust: TrustStore;
  tracking: TrackingLog;
  queue: QueueAdmin;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Development mode: accept unsigned agent bundles (an explicit command-line flag, never a config field). */
  allowUnsignedAgents?: boolean;
}

export class StartupError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
    this.code = code;
  }
}

/** One server per data dir: a second one would share the spool without coordination. */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = join(dataDir, 'sluice.pid');
  try {
    const pid = Number((await readFile(file, 'utf8')).trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new StartupError('DATA_DIR_IN_USE', `data dir ${dataDir} is in use by process ${pid}`);
    }
  } catch (err) {
    if (err instanceof StartupError) throw err;
  }
  await writeFile(file, `${process.pid}\n`);
  return () => rm(file, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

export async function startServer(config: Config, log: LogFn, options: StartOptions = {}): Promise<RunningServer> {
  if (config.api.enabled) {
    const bindError = checkApiBind(config.api);
    if (bindError) throw new StartupError('API_BIND', bindError);
  }
  const dataDir = resolve(config.dataDir);
  const hostname = config.hostname ?? osHostname();
  await mkdir(dataDir, { recursive: true });
  const unlock = await lockDataDir(dataDir);
  const started = Date.now();
  const cleanups: (() => Promise<void>)[] = [unlock];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
  };
  try {
    const spool = new JournalStore({ dir: join(dataDir, 'spool'), segmentBytes: config.spool.segmentBytes, log });
    const report = await spool.open();
    cleanups.push(() => spool.close());
    for (const q of report.quarantined) log('warn', 'spool.quarantined', { file: q.file, reason: q.reason });
    if (report.recovered > 0) log('info', 'spool.recovered', { messages: report.recovered });
    const tracking = new TrackingLog({ dir: join(dataDir, 'tracking'), log });
    await tracking.open();
    cleanups.push(() => tracking.close());
    const track = tracking.append.bind(tracking);
    // Throws RecipientConfigError (naming the field) on tables that contradict each other.
    const recipients = new RecipientResolver({ domains: config.domains, ...config.recipients });

    await mkdir(join(dataDir, 'agents'), { recursive: true });
    const trust = await TrustStore.open(join(dataDir, 'agents', 'trusted-keys.json'));
    // Agent log lines name the agent, not its sandbox id (`vendor/agent.<generation>`).
    let agentsRef: AgentRegistry | undefined;
    const onAgentLog = (runId: string, level: LogLevel, message: string, fields: Record<string, unknown> | undefined): void => {
      const agent = runId.replace(/\.\d+$/, '');
      const unsigned = agentsRef?.get(agent)?.unsigned === true ? { unsigned: true } : {};
      log(level, 'agent.log', { ...fields, agent, message, ...unsigned });
    };
    const sandbox = await selectSandboxDriver({
      ...(config.agents.driver === 'auto' ? {} : { prefer: config.agents.driver }),
      // The largest message accepted must reach an agent that asked for the body.
      host: { onLog: (line) => log('warn', 'sandbox.host', { line }), onAgentLog, maxFrameBytes: frameCapFor(config.smtp.limits.messageSize) },
      quickjs: { onAgentLog },
    });
    log('info', 'sandbox.driver', { driver: sandbox.name, reason: sandbox.reason });
    cleanups.push(() => sandbox.driver.close());
    const agents = await AgentRegistry.open({
      dataDir,
      trust,
      driver: sandbox.driver,
      driverInfo: { name: sandbox.name, guarantees: sandbox.guarantees },
      devMode: options.allowUnsignedAgents === true,
      log,
      breaker: { threshold: config.agents.breakerThreshold, cooldownMs: config.agents.breakerCooldownMs },
    });
    agentsRef = agents;
    const policy = new ReceiveDispatcher(agents, sandbox.driver, log);

    const smtpCfg = config.smtp;
    const tlsMaterial = await loadTlsMaterial(dataDir, hostname, smtpCfg.tls);
    const passwords = new PasswordTable(smtpCfg.auth.users);
    const domains = new Set(config.domains);
    const listener = new SmtpListener({
      maxConnections: smtpCfg.limits.connections,
      maxConnectionsPerClient: smtpCfg.limits.connectionsPerClient,
      greetingDelayMs: smtpCfg.greetingDelayMs,
      secureContext: tlsMaterial.context,
      relayNetworks: new NetworkList(smtpCfg.relayNetworks),
      session: {
        hostname,
        limits: smtpCfg.limits,
        timeouts: smtpCfg.timeouts,
        isLocalDomain: (d) => domains.has(d),
        ...(config.recipients.validate ? { isKnownRecipient: (a: string) => recipients.isKnown(a) } : {}),
        tlsAvailable: true,
        authAvailable: passwords.size > 0,
        allowPlaintextAuth: smtpCfg.auth.allowPlaintext,
      },
      ports: {
        commit: createAcceptor({ spool, hostname, newId: newQueueId, now: Date.now, log, track }),
        verifyPassword: async (user, password) => {
          try {
            return (await passwords.verify(user, password)) ? 'ok' : 'invalid';
          } catch {
            return 'error';
          }
        },
        log,
        policy,
      },
      onConnectionClosed: (s) =>
        log('info', 'smtp.connection', {
          client: s.remoteAddress,
          helo: s.helo ?? undefined,
          tls: s.tls ? s.tls.protocol : undefined,
          user: s.user ?? undefined,
          messages: s.messages,
          rejected: s.rejected,
          end: s.end,
          ms: s.durationMs,
        }),
    });
    const smtpAt = splitHostPort(smtpCfg.listen);
    let smtp: { host: string; port: number };
    try {
      smtp = await listener.listen(smtpAt.host, smtpAt.port);
    } catch (err) {
      throw new StartupError('SMTP_LISTEN', `cannot listen for SMTP on ${smtpCfg.listen}: ${(err as Error).message}`, { cause: err });
    }
    cleanups.push(() => listener.close());

    const mailboxDir = join(dataDir, 'mailboxes');
    const router = new Router({ domains: config.domains, connectors: config.routing.connectors });
    const connectors = buildConnectors({ router, mailboxDir, hostname, dnsServers: config.routing.dnsServers, agents, driver: sandbox.driver, log });
    cleanups.push(async () => {
      for (const c of connectors) await c.close?.();
    });
    const routingAgents = new RoutingChain(agents, sandbox.driver, log);
    const bodies = new BodyStore(join(dataDir, 'spool', 'bodies'));
    const marks = new CrashMarks(join(dataDir, 'spool', 'categorizing.marks'));
    cleanups.push(() => marks.close());
    const links = new LinkState({ file: join(dataDir, 'queues.json'), downAfter: config.delivery.linkDownAfter, retryMs: config.delivery.linkRetryMs });
    await links.open();
    const runner = new QueueRunner({
      spool,
      categorizer: new Categorizer({ resolver: recipients, router, agents: routingAgents, track, log }),
      router,
      bodies,
      marks,
      agents: routingAgents,
      connectors,
      links,
      reports: { hostname, newId: newQueueId },
      track,
      log,
      batchSize: config.delivery.batchSize,
      retry: config.delivery.retry,
      delayNoticeMs: config.delivery.delayNoticeMs,
      // Deliveries in flight per next hop: the connector's maxConnections; the Maildir's two writer threads.
      hopConcurrency: (name) => router.connectors().find((c) => c.name === name)?.maxConnections ?? 2,
      poisonAfter: config.delivery.poisonAfter,
      // Deferred mail becomes due on its own; look at least as often as the shortest retry.
      pollMs: Math.min(1000, config.delivery.retry.firstMs),
    });
    await runner.start();
    cleanups.push(() => runner.stop());
    const queue = new QueueAdmin({ spool, links, reports: { hostname, newId: newQueueId }, track, kick: () => runner.kick(), bodies });

    let api: ApiServer | null = null;
    let adminToken = { tokenFile: '', created: false };
    if (config.api.enabled) {
      const at = splitHostPort(config.api.listen);
      const stores = await openApiStores(dataDir);
      cleanups.push(() => stores.audit.close());
      adminToken = stores.adminToken;
      const app = createApiApp({
        version: VERSION,
        startedAt: started,
        smtp: { listen: `${smtp.host}:${smtp.port}`, connections: () => listener.connections },
        queue: () => spool.stats(),
        management: { admin: agents, trust, tokens: stores.tokens, audit: stores.audit, maxBundleBytes: config.api.maxBundleBytes, log, tracking, queue },
        // On loopback, only loopback names: a DNS-rebound web page cannot talk to the API by another name.
        ...(isLoopbackHost(at.host) ? { allowedHosts: ['127.0.0.1', 'localhost', '[::1]', at.host.includes(':') ? `[${at.host}]` : at.host] } : {}),
      });
      try {
        api = await serveApi(app, at.host, at.port, config.api.tls);
      } catch (err) {
        throw new StartupError('API_LISTEN', `cannot listen for the API on ${config.api.listen}: ${(err as Error).message}`, { cause: err });
      }
      const running = api;
      cleanups.push(() => running.close());
    }

    return {
      hostname,
      dataDir,
      mailboxDir,
      smtp,
      api: api && { host: api.host, port: api.port, scheme: api.scheme, tokenFile: adminToken.tokenFile, tokenCreated: adminToken.created },
      tls: tlsMaterial,
      recovered: { messages: report.recovered, quarantined: report.quarantined.length },
      spool,
      agents,
      trust,
      tracking,
      queue,
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
