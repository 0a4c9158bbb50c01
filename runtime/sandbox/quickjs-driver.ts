/** The portable sandbox driver: every agent in its own QuickJS-ng WebAssembly instance, in this process (Node, Bun, Deno). */
import { RESULT_CAP_CHARS } from './runner-source.ts';
import * as v from 'valibot';
import { AgentCapabilities, type AgentLogSink } from './capabilities.ts';
import { runChainWith, type CallAgent } from './chain-runner.ts';
import { payloadLines } from './payload-lines.ts';
import { AgentLoadSpecSchema, HostRequestSchema } from './protocol.ts';
import type { AgentLoadSpec, ChainLink, ChainResult, LoadResult, SandboxDriver } from './protocol.ts';
import { QuickJsAgent } from './quickjs-agent.ts';
import { DEFAULT_LOG_RATE, LogLimiter, type LogRate } from './quickjs-log-limiter.ts';
import { compiledModule } from './quickjs-wasm.ts';

export interface QuickJsDriverOptions {
  /**
   * Where agents' `ctx.log` lines go (default: dropped). Lines are already cut to size and counted
   * against the per-event line budget (capabilities.ts), then against this driver's per-agent rate.
   */
  onAgentLog?: AgentLogSink;
  /** Per-agent log rate over time (default 100 lines at once, 20 per second). */
  logRate?: LogRate;
}

function issuePath(issue: v.BaseIssue<unknown> | undefined): string {
  return issue?.path?.map((p) => String(p.key)).join('.') ?? '';
}

export class QuickJsDriver implements SandboxDriver {
  readonly #options: QuickJsDriverOptions;
  readonly #agents = new Map<string, QuickJsAgent>();
  #closed = false;

  constructor(options: QuickJsDriverOptions = {}) {
    if (options.logRate !== undefined) new LogLimiter(options.logRate); // throws a RangeError naming the bad field
    this.#options = options;
  }

  /** Compiles the WebAssembly module once, so that the first load does not pay for it. */
  async start(): Promise<void> {
    await compiledModule();
  }

  async load(spec: AgentLoadSpec): Promise<LoadResult> {
    if (this.#closed) return { ok: false, error: 'the sandbox driver is closed' };
    const parsed = v.safeParse(AgentLoadSpecSchema, spec);
    if (!parsed.success) {
      const issue = parsed.issues[0];
      return { ok: false, error: `invalid load spec at ${issuePath(issue) || '(root)'}: ${issue?.message ?? 'invalid'}` };
    }
    const checked = parsed.output;
    const { agentId, code, memoryMiB } = checked;
    const limiter = new LogLimiter(this.#options.logRate ?? DEFAULT_LOG_RATE);
    const onAgentLog = this.#options.onAgentLog;
    const sink: AgentLogSink = (id, level, message, fields) => {
      if (onAgentLog === undefined) return;
      const dropped = limiter.take();
      if (dropped < 0) return;
      if (dropped > 0) onAgentLog(id, 'warn', `dropped ${dropped} log line${dropped === 1 ? '' : 's'} over the agent's log rate`, { dropped });
      onAgentLog(id, level, message, fields);
    };
    let capabilities: AgentCapabilities;
    try {
      capabilities = await AgentCapabilities.open(checked, sink);
    } catch (error) {
      return { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
    let agent: QuickJsAgent;
    try {
      agent = await QuickJsAgent.load({ agentId, code, memoryMiB, resultCapChars: RESULT_CAP_CHARS, capabilities });
    } catch (error) {
      await capabilities.close();
      return { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
    if (this.#closed) {
      await agent.dispose();
      return { ok: false, error: 'the sandbox driver is closed' };
    }
    const previous = this.#agents.get(agentId);
    this.#agents.set(agentId, agent);
    await previous?.dispose();
    return { ok: true };
  }

  async unload(agentId: string): Promise<void> {
    const agent = this.#agents.get(agentId);
    this.#agents.delete(agentId);
    await agent?.dispose();
  }

  /** Throws a TypeError naming the field for a malformed event or chain (a caller's bug); never rejects for what an agent does. */
  async runChain(event: string, payload: unknown, chain: ChainLink[]): Promise<ChainResult> {
    const checked = v.safeParse(HostRequestSchema, { type: 'run', id: 0, event, payload, chain });
    if (!checked.success) {
      const issue = checked.issues[0];
      throw new TypeError(`runChain: invalid ${issuePath(issue) || 'request'}: ${issue?.message ?? 'invalid'}`);
    }
    const call: CallAgent = (agentId, name, payloadJson, budgetMs) => {
      const agent = this.#agents.get(agentId);
      return agent ? agent.call(name, payloadJson, budgetMs) : Promise.resolve({ kind: 'error', error: 'agent not loaded' });
    };
    return runChainWith(event, payloadLines(payload, chain), chain, call);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    await Promise.all(agents.map((agent) => agent.dispose()));
  }
}
