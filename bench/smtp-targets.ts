// SMTP servers under test for bench/smtp-load.ts: started as child processes on 127.0.0.1, measured, torn down.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HOST = '127.0.0.1';
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/**
 * baseline: smtp-server that discards; fsync: the same writing and fsyncing each message; stock: with
 * its 100 ms greeting; sluice-agents: Sluice with five enabled receive agents (connect, EHLO, MAIL,
 * RCPT, end of data), one per event, each a trivial handler in the isolated-vm sandbox host.
 */
export const TARGET_NAMES = ['baseline', 'sluice', 'stock', 'fsync', 'sluice-agents'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export type RunningTarget = {
  name: TargetName;
  port: number;
  child: ChildProcess;
  /** Maildir root whose <domain>/<user>/new folders receive delivered mail (sluice only). */
  mailboxes: string | undefined;
  /** Temp directory this bench created for the target (its output log, Sluice's data and config). */
  workDir: string;
  /** Port of Sluice's management API when it was asked for (`TargetOptions.api`), for `queuedMessages`. */
  apiPort: number | undefined;
  /** Last output of the child, shown when it fails. */
  output: () => string;
};

export type TargetOptions = {
  /** Concurrent client connections the run will open, to size Sluice's per-client limits. */
  connections: number;
  /** Keep Sluice's default connection limits instead of raising them for a one-address load generator. */
  stockLimits: boolean;
  readyMs?: number;
  /** Sluice only: relay mail for `domain` from 127.0.0.1 through an smtp connector to this smart host. */
  outbound?: OutboundRoute;
  /** Sluice only: start the management API on a free loopback port (its public /health tells the queue size). */
  api?: boolean;
};

/** An smtp connector named `sink` for `domain`, delivering to `smartHost` (HOST:PORT) without TLS. */
export type OutboundRoute = { domain: string; smartHost: string; maxConnections: number };

/** Whether the Sluice CLI is present in this checkout. */
export function sluiceAvailable(): boolean {
  return existsSync(path.join(REPO_ROOT, 'bin', 'sluice.mjs'));
}

const started = new Set<ChildProcess>();

// Children die with the bench, whatever way it ends (pid-based, only what this module spawned).
process.on('exit', () => {
  for (const child of started) if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
});

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function command(name: TargetName, port: number, workDir: string, apiPort: number | undefined): string[] {
  switch (name) {
    case 'baseline':
      return ['--import', 'tsx', 'bench/baseline-smtp-server.ts', '--port', String(port)];
    case 'stock':
      return ['--import', 'tsx', 'bench/baseline-smtp-server.ts', '--port', String(port), '--stock'];
    case 'fsync':
      return ['--import', 'tsx', 'bench/baseline-smtp-server.ts', '--port', String(port), '--spool', workDir];
    case 'sluice':
    case 'sluice-agents':
      // --no-api unless asked for: the management API would otherwise bind a fixed port (8025) that a second run collides with
      return [
        'bin/sluice.mjs', 'serve', '--smtp', `${HOST}:${port}`, '--data', path.join(workDir, 'data'),
        '--domain', 'example.com', ...(apiPort === undefined ? ['--no-api'] : ['--api', `${HOST}:${apiPort}`]),
        '--config', path.join(workDir, 'config.json'),
      ];
  }
}

/**
 * Sluice's defaults allow 20 connections per client address and 1000 messages per connection. One
 * load generator is one address, so raise both, as one would for a trusted relay, unless the stock
 * limits are asked for. The baseline has no such limits at all.
 */
function sluiceConfig(opts: TargetOptions): object {
  const limit = Math.min(100_000, Math.max(200, opts.connections * 4));
  const smtp = opts.stockLimits ? {} : { limits: { connections: limit, connectionsPerClient: limit, messagesPerConnection: 1_000_000 } };
  const out = opts.outbound;
  if (out === undefined) return { smtp };
  return {
    smtp: { ...smtp, relayNetworks: ['127.0.0.1/32'] },
    routing: {
      connectors: [{ name: 'sink', type: 'smtp', addressSpaces: [out.domain], smartHosts: [out.smartHost], tls: 'none', maxConnections: out.maxConnections }],
    },
    // A deferral (a sink hiccup) is retried within the bench's wait instead of after the default 5 minutes.
    delivery: { retry: { firstMs: 1000, maxMs: 5000 } },
  };
}

/** The five agents of the `sluice-agents` target: one trivial handler per event, as a vendor would sign them. */
const BENCH_AGENT_EVENTS = ['onConnect', 'onEhlo', 'onMailFrom', 'onRcptTo', 'onEndOfData'] as const;

/**
 * Installs and enables the bench agents in a fresh data dir before the server starts, through the
 * same registry and trust store the server opens (so the server verifies and loads them as usual).
 */
async function installBenchAgents(dataDir: string): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  const { TrustStore } = await import('../runtime/agents/trust-store.ts');
  const { AgentRegistry } = await import('../runtime/agents/registry.ts');
  const { generateKeyPair } = await import('../sdk/bundle/signing.ts');
  const { createSignedBundle } = await import('../sdk/bundle/build-bundle.ts');
  const { SandboxHost } = await import('../runtime/sandbox/sandbox-host.ts');
  await mkdir(path.join(dataDir, 'agents'), { recursive: true });
  const trust = await TrustStore.open(path.join(dataDir, 'agents', 'trusted-keys.json'));
  const key = generateKeyPair();
  await trust.addKey({ publicKey: key.publicKey, vendors: ['bench'] });
  const driver = new SandboxHost();
  const registry = await AgentRegistry.open({ dataDir, trust, driver, driverInfo: { name: 'bench', guarantees: [] }, log: () => {} });
  try {
    for (const event of BENCH_AGENT_EVENTS) {
      const name = `bench/${event.slice(2).toLowerCase()}`;
      const code = new TextEncoder().encode(`globalThis.agent = { ${event}(event) { return event.session.id ? undefined : { verdict: 'disconnect' }; } };\n`);
      const manifest = { name, version: '1.0.0', kind: 'receive', events: [event], budgets: { [event]: 100 }, memoryMiB: 16, capabilities: ['log'], sdk: '^0.1.0' } as const;
      await registry.install(createSignedBundle({ manifest: manifest as never, code, privateKey: key.privateKey }));
      await registry.enable(name);
    }
  } finally {
    await driver.close();
  }
}

/** Starts one target and resolves once its port accepts connections (at most `readyMs`). */
export async function startTarget(name: TargetName, opts: TargetOptions): Promise<RunningTarget> {
  const readyMs = opts.readyMs ?? 20_000;
  const port = await freePort();
  const isSluice = name === 'sluice' || name === 'sluice-agents';
  if (!isSluice && (opts.outbound !== undefined || opts.api)) throw new Error(`${name}: outbound and api are Sluice options`);
  const apiPort = isSluice && opts.api ? await freePort() : undefined;
  const workDir = mkdtempSync(path.join(os.tmpdir(), `smtp-load-${name}-`));
  if (isSluice) writeFileSync(path.join(workDir, 'config.json'), JSON.stringify(sluiceConfig(opts)));
  if (name === 'sluice-agents') await installBenchAgents(path.join(workDir, 'data'));
  // output goes to a file, not a pipe, so that the bench process spends no CPU draining a server's log
  const logFile = path.join(workDir, 'output.log');
  const logFd = openSync(logFile, 'a');
  const child = spawn(process.execPath, command(name, port, workDir, apiPort), {
    cwd: REPO_ROOT,
    stdio: ['ignore', logFd, logFd],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  closeSync(logFd);
  started.add(child);
  const target: RunningTarget = {
    name,
    port,
    child,
    mailboxes: isSluice ? path.join(workDir, 'data', 'mailboxes') : undefined,
    workDir,
    apiPort,
    output: () => tail(logFile, 4000),
  };
  const t0 = performance.now();
  while (!(await accepts(port)) || (apiPort !== undefined && !(await accepts(apiPort)))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const out = target.output();
      await stopTarget(target);
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before listening:\n${out}`);
    }
    if (performance.now() - t0 > readyMs) {
      const out = target.output();
      await stopTarget(target);
      throw new Error(`${name} did not accept connections on ${HOST}:${port} within ${readyMs} ms:\n${out}`);
    }
    await sleep(50);
  }
  return target;
}

function tail(file: string, bytes: number): string {
  try {
    const size = statSync(file).size;
    const fd = openSync(file, 'r');
    const buf = Buffer.alloc(Math.min(bytes, size));
    readSync(fd, buf, 0, buf.length, size - buf.length);
    closeSync(fd);
    return buf.toString('utf8');
  } catch {
    return '';
  }
}

/** Whether 127.0.0.1:`port` accepts a TCP connection now. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; removes the target's temp directory unless `keep`. */
export async function stopTarget(target: RunningTarget, graceMs = 5000, keep = false): Promise<void> {
  const { child } = target;
  if (child.exitCode === null && child.signalCode === null && child.pid) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid, 'SIGTERM');
    const timer = setTimeout(() => child.pid && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  started.delete(child);
  if (!keep) rmSync(target.workDir, { recursive: true, force: true });
}

/**
 * CPU time (ms) of a process and its live descendants plus its reaped children, from /proc.
 * Undefined where /proc is missing (non-Linux).
 */
export function processTreeCpuMs(pid: number): number | undefined {
  const ticks = 100; // USER_HZ, 100 on every Linux ABI Node supports
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return undefined;
  }
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const e of entries) {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'latin1');
      // fields after the parenthesised command name: state ppid … utime(14) stime(15) cutime(16) cstime(17)
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(e), Number(f[1]));
      cpu.set(Number(e), Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]));
    } catch {
      // the process ended while we looked
    }
  }
  if (!cpu.has(pid)) return undefined;
  let total = 0;
  for (const [p, c] of cpu) {
    let q: number | undefined = p;
    for (let depth = 0; q !== undefined && q > 1 && depth < 32; depth++) {
      if (q === pid) {
        total += c;
        break;
      }
      q = parent.get(q);
    }
  }
  return (total / ticks) * 1000;
}

/** Files in <mailboxes>/<domain>/<user>/new, summed over users; 0 while the tree does not exist. */
export function countDelivered(mailboxes: string, domain: string): number {
  const root = path.join(mailboxes, domain);
  let users: string[];
  try {
    users = readdirSync(root);
  } catch {
    return 0;
  }
  let n = 0;
  for (const user of users) {
    try {
      n += readdirSync(path.join(root, user, 'new')).length;
    } catch {
      // not a mailbox (yet)
    }
  }
  return n;
}

/**
 * Polls until `expected` messages are in the Maildir tree or `limitMs` passes. Returns the lag in ms
 * (undefined on timeout) and how many were there at the start and at the end.
 */
export async function waitForDelivery(
  mailboxes: string,
  domain: string,
  expected: number,
  limitMs: number,
): Promise<{ lagMs: number | undefined; atStart: number; delivered: number }> {
  const t0 = performance.now();
  const atStart = countDelivered(mailboxes, domain);
  let delivered = atStart;
  while (delivered < expected) {
    if (performance.now() - t0 > limitMs) return { lagMs: undefined, atStart, delivered };
    await sleep(25);
    delivered = countDelivered(mailboxes, domain);
  }
  return { lagMs: performance.now() - t0, atStart, delivered };
}

/** Messages in a Sluice target's queue (spool), from its API's public /health; undefined without the API or on error. */
export async function queuedMessages(target: RunningTarget): Promise<number | undefined> {
  if (target.apiPort === undefined) return undefined;
  try {
    const res = await fetch(`http://${HOST}:${target.apiPort}/health`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { queue?: { messages?: unknown } };
    return typeof body.queue?.messages === 'number' ? body.queue.messages : undefined;
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
