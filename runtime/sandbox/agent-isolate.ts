/** One agent in its own isolated-vm isolate: hardened context, compile from a string, one bounded call per event (Node only). */
import ivm from 'isolated-vm';
import { BRIDGE_GLOBAL, type AgentCapabilities } from './capabilities.ts';
import type { RawOutcome } from './chain-runner.ts';
import { CHECK_AGENT, decodeRunnerOutput, RESULT_CAP_CHARS, RUNNER } from './runner-source.ts';

/** Runs before agent code: removes shared memory, WebAssembly and anything that could name the host. */
const PRELUDE = `(() => {
  const g = globalThis;
  for (const name of ['SharedArrayBuffer', 'Atomics', 'WebAssembly', 'require', 'process', 'fetch', 'Deno', 'Bun', 'global', 'module']) {
    if (Object.prototype.hasOwnProperty.call(g, name) && !delete g[name]) throw new Error('cannot remove ' + name);
  }
})();`;

/** A wall-clock grace over the CPU timeout before the host gives up on a call (never-settling promises). */
export const WALL_GRACE_MS = 50;
export const LOAD_TIMEOUT_MS = 1000;

interface Runner {
  start: ivm.Reference<(event: string, payloadJson: string, budgetMs: number) => string>;
  finish: ivm.Reference<() => Promise<string>>;
  settle: ivm.Reference<(id: number, reply: string) => void>;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What an AgentIsolate is built from: the load spec's code and limits. */
export interface AgentIsolateSpec {
  agentId: string;
  code: string;
  memoryMiB: number;
}

export class AgentIsolate {
  readonly agentId: string;
  readonly code: string;
  readonly memoryMiB: number;
  readonly capabilities: AgentCapabilities;
  #isolate: ivm.Isolate;
  #runner: Runner;
  /** While a handler's promise is awaited: ends the wait early (a capability reply's continuation failed). */
  #interrupt: ((error: unknown) => void) | undefined;

  /** Throws an Error whose message says why the code could not be loaded. The isolate owns `capabilities` from now on. */
  constructor(spec: AgentIsolateSpec, capabilities: AgentCapabilities) {
    this.agentId = spec.agentId;
    this.code = spec.code;
    this.memoryMiB = spec.memoryMiB;
    this.capabilities = capabilities;
    const { isolate, runner } = this.#build();
    this.#isolate = isolate;
    this.#runner = runner;
  }

  #build(): { isolate: ivm.Isolate; runner: Runner } {
    const isolate = new ivm.Isolate({ memoryLimit: this.memoryMiB });
    try {
      const context = isolate.createContextSync();
      isolate.compileScriptSync(PRELUDE).runSync(context, { timeout: LOAD_TIMEOUT_MS });
      // Replies are delivered by calling the runner's settle; it exists once the runner is compiled.
      let settle: Runner['settle'] | undefined;
      const bridge = this.capabilities.bridge((id, reply) => {
        if (settle !== undefined) this.#deliver(isolate, settle, id, reply);
      });
      // Callbacks arrive as plain functions of the isolate; the prelude wraps them and deletes the global.
      context.evalClosureSync(
        `globalThis.${BRIDGE_GLOBAL} = { setup: $0, log: $1, call: $2 };`,
        [bridge.setup, new ivm.Callback(bridge.log), new ivm.Callback(bridge.call)],
        { timeout: LOAD_TIMEOUT_MS },
      );
      const runnerObject = isolate.compileScriptSync(`(${RUNNER})(${RESULT_CAP_CHARS})`).runSync(context, { timeout: LOAD_TIMEOUT_MS, reference: true });
      const runner: Runner = {
        start: runnerObject.getSync('start', { reference: true }),
        finish: runnerObject.getSync('finish', { reference: true }),
        settle: runnerObject.getSync('settle', { reference: true }),
      };
      settle = runner.settle;
      isolate.compileScriptSync(this.code, { filename: `agent:${this.agentId}` }).runSync(context, { timeout: LOAD_TIMEOUT_MS });
      const check: unknown = isolate.compileScriptSync(CHECK_AGENT).runSync(context, { timeout: LOAD_TIMEOUT_MS });
      if (check !== 'ok') throw new Error(`the code must assign an object to globalThis.agent (found ${String(check)})`);
      return { isolate, runner };
    } catch (error) {
      if (!isolate.isDisposed) isolate.dispose();
      throw new Error(message(error));
    }
  }

  /**
   * A capability reply: settles the agent's promise inside the isolate, whose continuation runs there
   * and then under what is left of the event's budget. If that fails (the continuation looped), the
   * awaited handler is interrupted with the failure.
   */
  #deliver(isolate: ivm.Isolate, settle: Runner['settle'], id: number, reply: string): void {
    if (isolate !== this.#isolate || isolate.isDisposed) return;
    try {
      settle.applySync(undefined, [id, reply], { timeout: Math.max(1, Math.ceil(this.capabilities.remainingMs())) });
    } catch (error) {
      this.#interrupt?.(error);
    }
  }

  /**
   * Runs one handler under `budgetMs` of isolate time: synchronously first; a handler that returns a
   * promise is then awaited under what is left of the budget, plus WALL_GRACE_MS of wall time.
   * Capability calls made meanwhile are bounded by the same budget. A synchronous answer is returned
   * as it is, not as a promise.
   */
  call(event: string, payloadJson: string, budgetMs: number): RawOutcome | Promise<RawOutcome> {
    const started = performance.now();
    let out: unknown;
    this.capabilities.beginEvent(budgetMs);
    try {
      out = this.#runner.start.applySync(undefined, [event, payloadJson, budgetMs], { timeout: budgetMs });
    } catch (error) {
      this.capabilities.endEvent();
      return this.#failure(error, budgetMs);
    }
    // A handler that answered synchronously (the common case) is done without a promise or a turn.
    if (out !== 'P') {
      this.capabilities.endEvent();
      return typeof out === 'string' ? decodeRunnerOutput(out) : (out as RawOutcome);
    }
    return this.#finish(Math.max(1, Math.floor(budgetMs - (performance.now() - started))), budgetMs)
      .finally(() => this.capabilities.endEvent())
      .then((finished) => (typeof finished === 'string' ? decodeRunnerOutput(finished) : finished));
  }

  /** Awaits a handler's promise inside the isolate; a host-side deadline abandons one that never settles. */
  async #finish(leftMs: number, budgetMs: number): Promise<string | RawOutcome> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), leftMs + WALL_GRACE_MS);
    });
    const interrupted = new Promise<{ error: unknown }>((resolve) => {
      this.#interrupt = (error) => resolve({ error });
    });
    try {
      const call = this.#runner.finish
        .apply(undefined, [], { timeout: leftMs, result: { promise: true } })
        .then((value) => ({ value }), (error: unknown) => ({ error }));
      const settled = await Promise.race([call, deadline, interrupted]);
      if (settled === 'deadline') {
        this.#rebuild();
        return { kind: 'timeout', error: `no answer within ${budgetMs} + ${WALL_GRACE_MS} ms of wall time (a promise that never settles, or an isolate that did not stop); isolate replaced` };
      }
      if ('error' in settled) return this.#failure(settled.error, budgetMs);
      return typeof settled.value === 'string' ? settled.value : '';
    } finally {
      this.#interrupt = undefined;
      clearTimeout(timer);
    }
  }

  /** A call that threw in the host: the budget ran out, the isolate was disposed, or something else. */
  #failure(error: unknown, budgetMs: number): RawOutcome {
    const text = message(error);
    const disposed = this.#isolate.isDisposed;
    if (disposed || /timed out/i.test(text)) this.#rebuild();
    if (/timed out/i.test(text)) return { kind: 'timeout', error: `exceeded its budget of ${budgetMs} ms` };
    return { kind: 'error', error: disposed ? `isolate disposed: ${text}` : text };
  }

  /** A fresh isolate from the same code: after a timeout, a memory-limit disposal or an abandoned promise. */
  #rebuild(): void {
    if (!this.#isolate.isDisposed) this.#isolate.dispose();
    const { isolate, runner } = this.#build();
    this.#isolate = isolate;
    this.#runner = runner;
  }

  /** Disposes the isolate and releases the capabilities (the kv store). */
  async dispose(): Promise<void> {
    if (!this.#isolate.isDisposed) this.#isolate.dispose();
    await this.capabilities.close();
  }
}
