/**
 * The server side of a sandbox host process: spawns it, pipelines requests to it, attributes crashes
 * (from the host's black box), restarts it and reloads its agents (Node, Bun, Deno).
 */
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { clearTimeout, setImmediate, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { runtimeName } from '../platform/runtime-info.ts';
import { BlackBox } from './black-box.ts';
import { encodeFrameUpTo, frameLineUpTo, LineDecoder, MAX_FRAME_BYTES, parseFrame } from './frame-codec.ts';
import { parseHostMessage } from './host-message-check.ts';
import { payloadLines } from './payload-lines.ts';
import { pollPipe, PollBackoff } from './pipe-poll.ts';
import type { AgentLoadSpec, AgentLogMessage, BlackBoxRecord, ChainLink, ChainResult, HostMessage, LoadResult, SandboxDriver, SandboxStats, Step } from './protocol.ts';
import { AGENT_FAILURE_VERDICT } from './sandbox-verdict.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOAD_MS = 1000;
const READY_MS = 15_000;
const MAX_CONSECUTIVE_CRASHES = 5;
/**
 * How long the server waits for the host's answer by polling the pipe, before it goes back to its
 * event loop (µs). A host answers a chain of trivial agents in ~20-50 µs; sleeping in the event loop
 * instead costs ~40 µs more per round trip on this VM (waking an idle vCPU, then a loop turn).
 */
export const SPIN_WINDOW_US = 100;
/** More per agent in the requests in flight, up to the maximum. */
const SPIN_PER_AGENT_US = 25;
const SPIN_MAX_US = 1000;

export interface SandboxHostOptions {
  /** Slack over the sum of budgets before a wedged host is killed (default 2000 ms). */
  marginMs?: number;
  /** Where the host's stderr lines go (default: this process's stderr, prefixed). */
  onLog?: (line: string) => void;
  /** Where agents' `ctx.log` lines go (default: `onLog`, as one line each). */
  onAgentLog?: (agentId: string, level: AgentLogMessage['level'], message: string, fields: Record<string, unknown> | undefined) => void;
  /**
   * Poll the host's answer for up to this many µs (plus 25 per agent in flight, up to 1 ms or this
   * base, whichever is more) after writing a request, before returning to the event loop (default
   * SPIN_WINDOW_US; 0 never polls). On Node only (see pipeFd).
   */
  spinWindowUs?: number;
  /**
   * The longest frame either end accepts (default MAX_FRAME_BYTES): `frameCapFor(messageSize)` lets
   * the largest message the server accepts reach agents that want the body. Longer requests are
   * refused with a FrameError before anything is sent.
   */
  maxFrameBytes?: number;
}

/**
 * The answer pipe's file descriptor, on Node (its pipe handles expose it). Deno's compatibility layer
 * exposes an fd too, but reading it never returns the host's answers (measured: every poll came back
 * empty), and Bun exposes none; there the server waits in its event loop.
 */
function pipeFd(stream: unknown): number | undefined {
  if (runtimeName !== 'node') return undefined;
  const fd = (stream as { _handle?: { fd?: unknown } } | null)?._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

type Request =
  | { type: 'load'; spec: AgentLoadSpec }
  | { type: 'unload'; agentId: string }
  | { type: 'ping' }
  | { type: 'run'; event: string; chain: ChainLink[]; lines: [string] | [string, string] };
/** What ended a request: the host's answer, or the host's death while it ran (with the black box's record, if it names this request). */
type Ending = { reply: HostMessage } | { died: string; killedAtDeadline: boolean; record?: BlackBoxRecord };
/** `text` is the request's lines without an id: one is put in front each time it is sent (again, after a restart). */
type Op = { type: Request['type']; text: string; deadlineMs: number; agents: number; finish: (ending: Ending) => void };
/** A request written to the host; `dueAt` is set when it becomes the head, i.e. starts running. */
type Sent = { op: Op; id: number; dueAt: number };

/** The request as lines for the host's stdin, still without its id; a run carries its payload lines after its own. */
function encodeRequest(request: Request, maxBytes: number): string {
  if (request.type !== 'run') return encodeFrameUpTo(request, maxBytes);
  const { event, chain, lines } = request;
  const head = encodeFrameUpTo({ type: 'run', event, chain, lines: lines.length }, maxBytes);
  return lines.length === 1 ? head + frameLineUpTo(lines[0], maxBytes) : head + frameLineUpTo(lines[0], maxBytes) + frameLineUpTo(lines[1], maxBytes);
}

/** `{"type":…` becomes `{"id":7,"type":…`. */
function withId(text: string, id: number): string {
  return `{"id":${id},${text.slice(1)}`;
}

export class SandboxHost implements SandboxDriver {
  #options: SandboxHostOptions;
  #child: ChildProcess | undefined;
  #ready = false;
  #closing = false;
  /** Waiting for a ready host. */
  #queue: Op[] = [];
  /** Written to the host and not answered yet, in order; the host runs them one at a time, so the first is running. */
  #inflight: Sent[] = [];
  /** One timer for the running request's deadline, re-armed lazily (not cleared and set per request). */
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #nextId = 1;
  #flushScheduled = false;
  #crashes = 0;
  /** The id of the request whose deadline passed, when this side killed the host for it. */
  #killedFor: number | undefined;
  #agents = new Map<string, AgentLoadSpec>();
  #blackBox: BlackBox | undefined;
  #started: Promise<void> | undefined;
  #onReady: (() => void) | undefined;
  /** The running host's answer pipe, for polling (see SPIN_WINDOW_US); its decoder is shared with the stream's reads. */
  #answers: { fd: number; decoder: LineDecoder; child: ChildProcess } | undefined;
  #spinBuffer: Buffer | undefined;
  /** Writes left before spinning is tried again, and the next pause after a failed spin. */
  #spinBackoff = new PollBackoff();
  #stats: SandboxStats = { hostRestarts: 0, polls: { answered: 0, empty: 0, skipped: 0 } };

  constructor(options: SandboxHostOptions = {}) {
    this.#options = options;
  }

  get #maxFrameBytes(): number {
    return this.#options.maxFrameBytes ?? MAX_FRAME_BYTES;
  }

  /** Spawns the host and waits for its `ready` frame. */
  start(): Promise<void> {
    this.#started ??= this.#spawn();
    return this.#started;
  }

  async load(spec: AgentLoadSpec): Promise<LoadResult> {
    let ending: Ending;
    try {
      ending = await this.#submit({ type: 'load', spec }, LOAD_MS * 2);
    } catch (error) {
      // The spec does not fit in a frame: a load error like any other.
      return { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
    if ('died' in ending) return { ok: false, error: `sandbox host died while loading: ${ending.died}` };
    if (ending.reply.type !== 'loaded') return { ok: false, error: `unexpected reply ${ending.reply.type}` };
    if (!ending.reply.ok) return { ok: false, error: ending.reply.error ?? 'load failed' };
    this.#agents.set(spec.agentId, spec);
    return { ok: true };
  }

  /** Runs submitted before the unload still find the agent, also when they are re-sent to a restarted host. */
  async unload(agentId: string): Promise<void> {
    await this.#submit({ type: 'unload', agentId }, LOAD_MS);
    this.#agents.delete(agentId);
  }

  /** True when this server polls the running host's answer pipe (its runtime exposes the pipe's fd, and polling is on). */
  get polling(): boolean {
    return this.#answers !== undefined && (this.#options.spinWindowUs ?? SPIN_WINDOW_US) > 0;
  }

  /** Restarts of the host process and the server's polls for its answers, since this driver started. */
  stats(): SandboxStats {
    return { hostRestarts: this.#stats.hostRestarts, polls: { ...this.#stats.polls } };
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

  /** Throws (a caller's bug) only when `payload` cannot be serialized to JSON, e.g. it holds a BigInt. */
  async runChain(event: string, payload: unknown, chain: ChainLink[]): Promise<ChainResult> {
    const budget = chain.reduce((sum, link) => sum + link.budgetMs + 100, 0);
    const ending = await this.#submit({ type: 'run', event, chain, lines: payloadLines(payload, chain) }, budget);
    if ('reply' in ending) {
      return ending.reply.type === 'chain' ? ending.reply.result : { verdict: AGENT_FAILURE_VERDICT, decidedBy: null, steps: [] };
    }
    if (ending.record === undefined) return { verdict: AGENT_FAILURE_VERDICT, decidedBy: null, steps: [] };
    const { agentId, at, done } = ending.record;
    const failed: Step = {
      agentId,
      ms: Math.max(0, Math.round(Date.now() - at)),
      outcome: ending.killedAtDeadline ? 'timeout' : 'crash',
      error: ending.died,
    };
    return { verdict: AGENT_FAILURE_VERDICT, decidedBy: agentId, steps: [...done, failed] };
  }

  async close(): Promise<void> {
    this.#closing = true;
    for (const op of this.#queue.splice(0)) op.finish({ died: 'sandbox host closed', killedAtDeadline: false });
    const child = this.#child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      // The host answers what it was sent, then exits when its stdin ends.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
        child.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        child.stdin?.end();
      });
    }
    this.#disarm();
    this.#blackBox?.remove();
  }

  /** Throws (before anything is queued) when the request cannot be encoded: a payload that is not JSON, or too large. */
  #submit(request: Request, workMs: number): Promise<Ending> {
    if (this.#closing) return Promise.resolve({ died: 'sandbox host closed', killedAtDeadline: false });
    const text = encodeRequest(request, this.#maxFrameBytes);
    return new Promise((finish) => {
      const agents = request.type === 'run' ? request.chain.length : 0;
      this.#queue.push({ type: request.type, text, deadlineMs: workMs + (this.#options.marginMs ?? 2000), agents, finish });
      // Requests made while this turn of the event loop handles its I/O (many sessions' commands
      // under load) go out in one write: each write wakes the host, which costs this process CPU.
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => {
          this.#flushScheduled = false;
          this.#pump();
        });
      }
    });
  }

  /** Writes every waiting request to a ready host at once: the host queues them and runs them in order. */
  #pump(): void {
    const child = this.#child;
    if (!this.#ready || child === undefined || this.#queue.length === 0) return;
    let text = '';
    for (const op of this.#queue.splice(0)) {
      const sent: Sent = { op, id: this.#nextId++, dueAt: Infinity };
      text += withId(op.text, sent.id);
      this.#inflight.push(sent);
      if (this.#inflight.length === 1) this.#begin(sent);
    }
    child.stdin?.write(text);
    // Written at once (nothing left buffered in the stream): the answers are worth waiting for here.
    if (child.stdin?.writableLength === 0) this.#spin();
  }

  /**
   * Reads the host's answers straight from the pipe for up to the spin window, while requests are in
   * flight, so that a fast chain is answered within this turn of the event loop. Windows that pass
   * with no answer at all, twice in a row, pause spinning (exponential backoff): slow agents cost a
   * window rarely.
   * What is not answered in the window arrives through the stream as usual; both feed one decoder.
   */
  #spin(): void {
    const baseUs = this.#options.spinWindowUs ?? SPIN_WINDOW_US;
    if (baseUs <= 0) return;
    // Loads and pings take milliseconds: not worth a spin, nor a reason to back off.
    let agents = 0;
    for (const sent of this.#inflight) {
      if (sent.op.type !== 'run') return;
      agents += sent.op.agents;
    }
    // More time for more agents, up to the maximum (or the base, when that was set above it).
    const windowUs = Math.min(Math.max(SPIN_MAX_US, baseUs), baseUs + agents * SPIN_PER_AGENT_US);
    const answers = this.#answers;
    if (answers === undefined || this.#inflight.length === 0) return;
    if (!this.#spinBackoff.shouldPoll()) {
      this.#stats.polls.skipped++;
      return;
    }
    this.#spinBuffer ??= Buffer.allocUnsafe(64 * 1024);
    const chunks = pollPipe(answers.fd, this.#spinBuffer, windowUs / 1000, (chunk) => {
      this.#receive(answers, chunk);
      // Everything answered, or the host died meanwhile (a bad frame kills it).
      return this.#inflight.length === 0 || this.#answers !== answers;
    });
    this.#stats.polls[chunks > 0 ? 'answered' : 'empty']++;
    this.#spinBackoff.record(chunks > 0);
  }

  /** Bytes from the host's stdout (the stream's or the spin's): frames, in order. A bad frame kills the host. */
  #receive(answers: { decoder: LineDecoder; child: ChildProcess }, chunk: Uint8Array): void {
    const { decoder, child } = answers;
    try {
      for (const line of decoder.push(chunk)) {
        const parsed = parseHostMessage(parseFrame(line));
        if (!parsed.success) throw new Error(`invalid frame from sandbox host: ${parsed.error}`);
        this.#onMessage(parsed.output, child);
      }
    } catch (error) {
      this.#log(error instanceof Error ? error.message : String(error));
      child.kill('SIGKILL');
    }
  }

  /** `sent` is now the head: the host starts it, and its deadline runs from now. */
  #begin(sent: Sent): void {
    sent.dueAt = performance.now() + sent.op.deadlineMs;
    if (sent.dueAt < this.#timerAt) this.#arm(sent.dueAt);
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#onTimer(), Math.max(1, Math.ceil(at - performance.now())));
    // The child's pipes keep the process alive while requests are in flight; an idle host must not.
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #onTimer(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const head = this.#inflight[0];
    if (head === undefined) return;
    // Timers may fire a fraction of a millisecond early.
    if (head.dueAt - performance.now() > 1) return this.#arm(head.dueAt);
    this.#killedFor = head.id;
    this.#child?.kill('SIGKILL');
  }

  #onMessage(message: HostMessage, child: ChildProcess): void {
    if (message.type === 'ready') {
      this.#ready = true;
      this.#onReady?.();
      return;
    }
    if (message.type === 'log') return this.#agentLog(message);
    const head = this.#inflight[0];
    if (head === undefined || message.id !== head.id) {
      // Answers come in order; anything else means the two sides no longer agree on what is running.
      this.#log(`${message.type} frame for id ${String(message.id)} while ${head === undefined ? 'nothing' : `id ${head.id}`} runs; killing the host`);
      child.kill('SIGKILL');
      return;
    }
    this.#inflight.shift();
    const next = this.#inflight[0];
    if (next !== undefined) this.#begin(next);
    this.#crashes = 0;
    head.op.finish({ reply: message });
  }

  #spawn(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#blackBox ??= BlackBox.create();
      this.#blackBox.clear();
      const command = runtimeName === 'node' ? process.execPath : 'node';
      const child = spawn(command, ['--no-node-snapshot', '--import', 'tsx', 'runtime/sandbox/host-main.ts', this.#blackBox.path, String(this.#maxFrameBytes)], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      this.#child = child;
      this.#ready = false;
      // Writing to a host that just died fails with EPIPE; the death itself is handled on 'close'.
      child.stdin?.on('error', () => {});
      this.#killedFor = undefined;
      const readyTimer = setTimeout(() => child.kill('SIGKILL'), READY_MS);
      this.#onReady = () => {
        clearTimeout(readyTimer);
        resolve();
        this.#pump();
      };
      const answers = { decoder: new LineDecoder(this.#maxFrameBytes), child };
      const fd = pipeFd(child.stdout);
      this.#answers = fd === undefined ? undefined : { ...answers, fd };
      child.stdout?.on('data', (chunk: Uint8Array) => this.#receive(answers, chunk));
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

  /**
   * Fails the running request as the running agent's failure (named by the black box), restarts the
   * host, reloads every agent, then re-sends the requests that were queued behind the running one.
   */
  #onDeath(child: ChildProcess, why: string): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    this.#answers = undefined;
    this.#ready = false;
    this.#disarm();
    const [head, ...behind] = this.#inflight.splice(0);
    const killedFor = this.#killedFor;
    if (head !== undefined) {
      const record = head.op.type === 'run' ? this.#blackBox?.read() : undefined;
      const started = record?.id === head.id;
      if (killedFor === undefined || killedFor === head.id) {
        const killedAtDeadline = killedFor === head.id;
        const reason = killedAtDeadline ? `${why} (no answer by the chain deadline)` : why;
        head.op.finish({ died: reason, killedAtDeadline, record: started ? record : undefined });
      } else if (started) {
        // The overdue request answered after all, just before the kill: the one it cut short is not to blame.
        head.op.finish({ died: `${why} (cut short: the request before it was overdue)`, killedAtDeadline: false });
      } else behind.unshift(head);
    }
    if (this.#closing) {
      for (const sent of behind) sent.op.finish({ died: 'sandbox host closed', killedAtDeadline: false });
      return;
    }
    if (++this.#crashes > MAX_CONSECUTIVE_CRASHES) {
      this.#log(`sandbox host died ${this.#crashes} times in a row; giving up`);
      this.#closing = true;
      for (const op of [...behind.map((sent) => sent.op), ...this.#queue.splice(0)]) op.finish({ died: 'sandbox host unavailable', killedAtDeadline: false });
      return;
    }
    // Reloads go first, then what the dead host had been sent but not started, then the rest; an
    // agent whose reload crashes the host again is dropped (its next call fails as "agent not loaded").
    const reloads: Op[] = [...this.#agents].map(([agentId, spec]) => ({
      type: 'load',
      text: encodeRequest({ type: 'load', spec }, this.#maxFrameBytes),
      deadlineMs: LOAD_MS * 2 + (this.#options.marginMs ?? 2000),
      agents: 0,
      finish: (ending: Ending) => {
        if ('died' in ending || (ending.reply.type === 'loaded' && !ending.reply.ok)) this.#agents.delete(agentId);
      },
    }));
    this.#queue.unshift(...reloads, ...behind.map((sent) => sent.op));
    this.#stats.hostRestarts++;
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
