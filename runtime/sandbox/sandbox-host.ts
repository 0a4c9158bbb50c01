/** The server side of a sandbox host process: spawns it, frames requests, attributes crashes, restarts and reloads (Node, Bun, Deno). */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as v from 'valibot';
import { runtimeName } from '../platform/runtime-info.ts';
import { encodeFrame, FrameDecoder } from './frame-codec.ts';
import { HostMessageSchema } from './protocol.ts';
import type { AgentLoadSpec, AgentLogMessage, ChainLink, ChainResult, HostMessage, LoadResult, SandboxDriver, Step } from './protocol.ts';
import { AGENT_FAILURE_VERDICT } from './sandbox-verdict.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOAD_MS = 1000;
const READY_MS = 15_000;
const MAX_CONSECUTIVE_CRASHES = 5;

export interface SandboxHostOptions {
  /** Slack over the sum of budgets before a wedged host is killed (default 2000 ms). */
  marginMs?: number;
  /** Where the host's stderr lines go (default: this process's stderr, prefixed). */
  onLog?: (line: string) => void;
  /** Where agents' `ctx.log` lines go (default: `onLog`, as one line each). */
  onAgentLog?: (agentId: string, level: AgentLogMessage['level'], message: string, fields: Record<string, unknown> | undefined) => void;
}

type Request = { type: 'load'; spec: AgentLoadSpec } | { type: 'unload'; agentId: string } | { type: 'ping' } | { type: 'run'; event: string; payload: unknown; chain: ChainLink[] };
/** What ended a request: the host's answer, or the host's death (with the last `step` frame seen). */
type Ending = { reply: HostMessage } | { died: string; killedAtDeadline: boolean; step?: Extract<HostMessage, { type: 'step' }>; stepAt: number };
type Op = { request: Request; deadlineMs: number; finish: (ending: Ending) => void };

export class SandboxHost implements SandboxDriver {
  #options: SandboxHostOptions;
  #child: ChildProcess | undefined;
  #ready = false;
  #closing = false;
  #queue: Op[] = [];
  #current: { op: Op; id: number; timer: ReturnType<typeof setTimeout>; step?: Extract<HostMessage, { type: 'step' }>; stepAt: number } | undefined;
  #nextId = 1;
  #crashes = 0;
  #killedAtDeadline = false;
  #agents = new Map<string, AgentLoadSpec>();
  #started: Promise<void> | undefined;
  #onReady: (() => void) | undefined;

  constructor(options: SandboxHostOptions = {}) {
    this.#options = options;
  }

  /** Spawns the host and waits for its `ready` frame. */
  start(): Promise<void> {
    this.#started ??= this.#spawn();
    return this.#started;
  }

  async load(spec: AgentLoadSpec): Promise<LoadResult> {
    const ending = await this.#submit({ type: 'load', spec }, LOAD_MS * 2);
    if ('died' in ending) return { ok: false, error: `sandbox host died while loading: ${ending.died}` };
    if (ending.reply.type !== 'loaded') return { ok: false, error: `unexpected reply ${ending.reply.type}` };
    if (!ending.reply.ok) return { ok: false, error: ending.reply.error ?? 'load failed' };
    this.#agents.set(spec.agentId, spec);
    return { ok: true };
  }

  async unload(agentId: string): Promise<void> {
    this.#agents.delete(agentId);
    await this.#submit({ type: 'unload', agentId }, LOAD_MS);
  }

  /** The host process's pid while one is running (for supervision and tests). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** True when the host answered a ping. */
  async ping(): Promise<boolean> {
    const ending = await this.#submit({ type: 'ping' }, LOAD_MS);
    return 'reply' in ending && ending.reply.type === 'pong';
  }

  async runChain(event: string, payload: unknown, chain: ChainLink[]): Promise<ChainResult> {
    const budget = chain.reduce((sum, link) => sum + link.budgetMs + 100, 0);
    const ending = await this.#submit({ type: 'run', event, payload, chain }, budget);
    if ('reply' in ending && ending.reply.type === 'chain') return ending.reply.result;
    if ('reply' in ending) return { verdict: AGENT_FAILURE_VERDICT, decidedBy: null, steps: [] };
    if (ending.step === undefined) return { verdict: AGENT_FAILURE_VERDICT, decidedBy: null, steps: [] };
    const { agentId, done } = ending.step;
    const failed: Step = {
      agentId,
      ms: Math.round(performance.now() - ending.stepAt),
      outcome: ending.killedAtDeadline ? 'timeout' : 'crash',
      error: ending.died,
    };
    return { verdict: AGENT_FAILURE_VERDICT, decidedBy: agentId, steps: [...done, failed] };
  }

  async close(): Promise<void> {
    this.#closing = true;
    for (const op of this.#queue.splice(0)) op.finish({ died: 'sandbox host closed', killedAtDeadline: false, stepAt: performance.now() });
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
      child.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin?.end();
    });
  }

  #submit(request: Request, workMs: number): Promise<Ending> {
    if (this.#closing) return Promise.resolve({ died: 'sandbox host closed', killedAtDeadline: false, stepAt: performance.now() });
    return new Promise((finish) => {
      this.#queue.push({ request, deadlineMs: workMs + (this.#options.marginMs ?? 2000), finish });
      this.#pump();
    });
  }

  /** Sends the next request when the host is idle: one at a time, so at most one call is ever in flight. */
  #pump(): void {
    const child = this.#child;
    if (this.#current !== undefined || !this.#ready || child === undefined || this.#queue.length === 0) return;
    const op = this.#queue.shift() as Op;
    const id = this.#nextId++;
    const timer = setTimeout(() => {
      this.#killedAtDeadline = true;
      child.kill('SIGKILL');
    }, op.deadlineMs);
    this.#current = { op, id, timer, stepAt: performance.now() };
    child.stdin?.write(encodeFrame({ ...op.request, id }));
  }

  #onMessage(message: HostMessage): void {
    if (message.type === 'ready') {
      this.#ready = true;
      this.#onReady?.();
      return;
    }
    if (message.type === 'log') return this.#agentLog(message);
    const current = this.#current;
    if (current === undefined || message.id !== current.id) return this.#log(`ignored ${message.type} frame for id ${String(message.id)}`);
    if (message.type === 'step') {
      current.step = message;
      current.stepAt = performance.now();
      return;
    }
    clearTimeout(current.timer);
    this.#current = undefined;
    this.#crashes = 0;
    current.op.finish({ reply: message });
    this.#pump();
  }

  #spawn(): Promise<void> {
    return new Promise((resolve, reject) => {
      const command = runtimeName === 'node' ? process.execPath : 'node';
      const child = spawn(command, ['--no-node-snapshot', '--import', 'tsx', 'runtime/sandbox/host-main.ts'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      this.#child = child;
      this.#ready = false;
      this.#killedAtDeadline = false;
      const readyTimer = setTimeout(() => child.kill('SIGKILL'), READY_MS);
      this.#onReady = () => {
        clearTimeout(readyTimer);
        resolve();
        this.#pump();
      };
      const decoder = new FrameDecoder();
      child.stdout?.on('data', (chunk: Uint8Array) => {
        try {
          for (const frame of decoder.push(chunk)) {
            const parsed = v.safeParse(HostMessageSchema, frame);
            if (!parsed.success) throw new Error(`invalid frame from sandbox host: ${parsed.issues[0]?.message ?? ''}`);
            this.#onMessage(parsed.output);
          }
        } catch (error) {
          this.#log(error instanceof Error ? error.message : String(error));
          child.kill('SIGKILL');
        }
      });
      let partial = '';
      child.stderr?.on('data', (chunk: Uint8Array) => {
        const lines = (partial + new TextDecoder().decode(chunk)).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) this.#log(line);
      });
      let ended = false;
      const onEnd = (why: string): void => {
        if (ended) return;
        ended = true;
        clearTimeout(readyTimer);
        if (!this.#ready) reject(new Error(`sandbox host did not start: ${why}`));
        this.#onDeath(child, why);
      };
      child.on('error', (error) => onEnd(error.message));
      child.on('close', (code, signal) => onEnd(signal !== null ? `sandbox host killed by ${signal}` : `sandbox host exited with code ${String(code)}`));
    });
  }

  /** Fails the in-flight request as the running agent's failure, then restarts the host and reloads every agent. */
  #onDeath(child: ChildProcess, why: string): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    this.#ready = false;
    const current = this.#current;
    this.#current = undefined;
    const killedAtDeadline = this.#killedAtDeadline;
    if (current !== undefined) {
      clearTimeout(current.timer);
      const reason = killedAtDeadline ? `${why} (no answer by the chain deadline)` : why;
      current.op.finish({ died: reason, killedAtDeadline, step: current.step, stepAt: current.stepAt });
    }
    if (this.#closing) return;
    if (++this.#crashes > MAX_CONSECUTIVE_CRASHES) {
      this.#log(`sandbox host died ${this.#crashes} times in a row; giving up`);
      this.#closing = true;
      for (const op of this.#queue.splice(0)) op.finish({ died: 'sandbox host unavailable', killedAtDeadline: false, stepAt: performance.now() });
      return;
    }
    // Reloads go to the head of the queue, so they run before the next call; an agent whose reload
    // crashes the host again is dropped (its next call fails as "agent not loaded").
    const reloads: Op[] = [...this.#agents].map(([agentId, spec]) => ({
      request: { type: 'load', spec },
      deadlineMs: LOAD_MS * 2 + (this.#options.marginMs ?? 2000),
      finish: (ending: Ending) => {
        if ('died' in ending || (ending.reply.type === 'loaded' && !ending.reply.ok)) this.#agents.delete(agentId);
      },
    }));
    this.#queue.unshift(...reloads);
    this.#spawn().catch((error: unknown) => this.#log(error instanceof Error ? error.message : String(error)));
  }

  #agentLog({ agentId, level, message, fields }: AgentLogMessage): void {
    const sink = this.#options.onAgentLog;
    if (sink) {
      // A throwing sink is the embedder's bug; it must not look like a bad frame (which kills the host).
      try {
        sink(agentId, level, message, fields);
      } catch (error) {
        this.#log(`onAgentLog threw: ${error instanceof Error ? error.message : String(error)}`);
      }
    } else this.#log(`agent ${agentId} ${level}: ${message}${fields === undefined ? '' : ` ${JSON.stringify(fields)}`}`);
  }

  #log(line: string): void {
    if (this.#options.onLog) this.#options.onLog(line);
    else process.stderr.write(`[sandbox-host] ${line}\n`);
  }
}
