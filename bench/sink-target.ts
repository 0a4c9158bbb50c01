// The receiving end of bench/pipeline-load.ts: Postfix's smtp-sink when it is on PATH, else the in-repo sink (smtp-sink.ts), both reporting arrivals by Message-ID.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, closeSync, constants, mkdirSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findMessageId, HEADER_SCAN_BYTES } from './message-id.ts';
import type { SinkToParent } from './smtp-sink.ts';
import { wallMinusSharedMs } from './shared-clock.ts';
import { accepts, freePort, HOST, REPO_ROOT, sleep } from './smtp-targets.ts';

export const SINK_KINDS = ['auto', 'smtp-sink', 'smtp-server'] as const;
export type SinkKind = (typeof SINK_KINDS)[number];

/** One message seen by the sink: its Message-ID ('' if none) and shared-clock arrival time. */
export type Arrival = { id: string; atMs: number };

export type RunningSink = {
  kind: 'smtp-sink' | 'smtp-server';
  /** What it is, for the report. */
  label: string;
  port: number;
  child: ChildProcess;
  workDir: string;
  /** Arrivals since the last call (each is returned once). */
  take(): Promise<Arrival[]>;
  stop(keep?: boolean): Promise<void>;
};

/** The path of Postfix's `smtp-sink` on PATH, if any. */
export function smtpSinkOnPath(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const file = path.join(dir, 'smtp-sink');
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Starts the sink `kind` asks for (`auto`: smtp-sink if on PATH, else smtp-server) on a free 127.0.0.1 port. */
export async function startSinkTarget(kind: SinkKind, readyMs = 20_000): Promise<RunningSink> {
  const postfix = kind === 'smtp-server' ? undefined : smtpSinkOnPath();
  if (kind === 'smtp-sink' && postfix === undefined) throw new Error('--sink smtp-sink: no smtp-sink on PATH (Debian package postfix); use --sink smtp-server or auto');
  return postfix !== undefined ? startPostfixSink(postfix, readyMs) : startNodeSink(readyMs);
}

const spawned = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of spawned) if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
});

async function stopChild(child: ChildProcess, workDir: string, keep: boolean): Promise<void> {
  if (child.exitCode === null && child.signalCode === null && child.pid) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid, 'SIGTERM');
    const timer = setTimeout(() => child.pid && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  spawned.delete(child);
  if (!keep) rmSync(workDir, { recursive: true, force: true });
}

function logTo(workDir: string): number {
  return openSync(path.join(workDir, 'output.log'), 'a');
}

/** The in-repo sink in a child process; arrivals come back over its IPC channel. */
async function startNodeSink(readyMs: number): Promise<RunningSink> {
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'pipeline-load-sink-'));
  const logFd = logTo(workDir);
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/smtp-sink.ts', '--port', '0'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', logFd, logFd, 'ipc'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  closeSync(logFd);
  spawned.add(child);
  const waiting: { resolve: (batch: Arrival[]) => void; reject: (error: Error) => void }[] = [];
  let onReady: ((port: number) => void) | undefined;
  child.on('message', (message: SinkToParent) => {
    if (message.op === 'ready') onReady?.(message.port);
    else if (message.op === 'arrivals') waiting.shift()?.resolve(message.ids.map((id, k) => ({ id, atMs: message.atMs[k] as number })));
  });
  // A sink that dies mid-run fails the pass instead of leaving it waiting for an answer.
  child.on('exit', (code, signal) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`the sink exited (${code ?? signal}); log in ${workDir}`));
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the sink did not start within ${readyMs} ms (log in ${workDir})`)), readyMs);
    onReady = (p) => {
      clearTimeout(timer);
      resolve(p);
    };
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the sink exited (${code ?? signal}) before listening (log in ${workDir})`));
    });
  });
  return {
    kind: 'smtp-server',
    label: 'nodemailer smtp-server (greeting delay removed), discards',
    port,
    child,
    workDir,
    take: () =>
      new Promise<Arrival[]>((resolve, reject) => {
        if (!child.connected) return reject(new Error(`the sink has gone away; log in ${workDir}`));
        waiting.push({ resolve, reject });
        child.send({ op: 'take' });
      }),
    stop: (keep = false) => stopChild(child, workDir, keep),
  };
}

/**
 * Postfix's smtp-sink, dumping each transaction to its own file (`-d`): the file's mtime is the
 * arrival time and the Message-ID in it the key. File times come from the kernel's coarse clock
 * (one tick, 1–10 ms), so its latencies are good to a few ms (the sink-direct check read about
 * −3 ms with Postfix 3.7 here), and writing a file per message caps the sink itself (~2,000
 * msgs/s on the 2-vCPU machine, against ~6,000 for the in-repo sink).
 */
async function startPostfixSink(binary: string, readyMs: number): Promise<RunningSink> {
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'pipeline-load-smtp-sink-'));
  const dumps = path.join(workDir, 'dumps');
  mkdirSync(dumps);
  const args: string[] = [];
  // smtp-sink refuses to run as root without -u; the unprivileged user must be able to write the dumps.
  if (process.getuid?.() === 0) {
    chmodSync(workDir, 0o755);
    chmodSync(dumps, 0o1777);
    args.push('-u', 'nobody');
  }
  const port = await freePort();
  args.push('-d', `${dumps}/m.`, `${HOST}:${port}`, '256');
  const logFd = logTo(workDir);
  const child = spawn(binary, args, { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  spawned.add(child);
  const t0 = performance.now();
  while (!(await accepts(port))) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`smtp-sink exited (${child.exitCode ?? child.signalCode}) before listening (log in ${workDir})`);
    if (performance.now() - t0 > readyMs) {
      await stopChild(child, workDir, true);
      throw new Error(`smtp-sink did not listen on ${HOST}:${port} within ${readyMs} ms (log in ${workDir})`);
    }
    await sleep(50);
  }
  const toShared = wallMinusSharedMs();
  const head = Buffer.alloc(HEADER_SCAN_BYTES);
  return {
    kind: 'smtp-sink',
    label: `Postfix smtp-sink (${binary}), dumps each message to a file`,
    port,
    child,
    workDir,
    take: async () => {
      const out: Arrival[] = [];
      // A dump still being written has a recent mtime; it is taken on a later call, when it is settled.
      const settledBefore = Date.now() - 250;
      for (const name of readdirSync(dumps)) {
        const file = path.join(dumps, name);
        const st = statSync(file, { bigint: true });
        const mtimeMs = Number(st.mtimeNs) / 1e6;
        if (mtimeMs > settledBefore) continue;
        const fd = openSync(file, 'r');
        const n = readSync(fd, head, 0, head.length, 0);
        closeSync(fd);
        unlinkSync(file);
        out.push({ id: findMessageId(head.toString('latin1', 0, n), true), atMs: mtimeMs - toShared });
      }
      return out;
    },
    stop: (keep = false) => stopChild(child, workDir, keep),
  };
}
