/** One agent in its own QuickJS-ng WebAssembly instance: hardened context, one bounded call per event, rebuilt from its code after a timeout or fault. */
import type { QuickJSContext, QuickJSHandle, QuickJSRuntime, QuickJSWASMModule } from 'quickjs-emscripten-core';
import { BRIDGE_GLOBAL, type AgentCapabilities, type CapabilityBridge } from './capabilities.ts';
import type { RawOutcome } from './chain-runner.ts';
import { PRELUDE } from './quickjs-runner.ts';
import { CHECK_AGENT, decodeRunnerOutput, RUNNER } from './runner-source.ts';
import { newAgentModule } from './quickjs-wasm.ts';

export const LOAD_TIMEOUT_MS = 1000;

/**
 * QuickJS's own stack limit (its C stack lives in the WebAssembly memory). WebAssembly frames also
 * use the host's native stack, so the limit must be reached before the host's stack runs out on the
 * common paths: at 256 KiB plain JavaScript recursion (~1,500 frames) stops inside QuickJS with a
 * catchable RangeError on Node, Bun and Deno. A few native recursions (JSON.stringify of a deeply
 * nested object) can still exhaust the host stack first; that host RangeError is caught at the call
 * and the instance is rebuilt.
 */
export const MAX_STACK_BYTES = 256 * 1024;

const MIB = 1024 * 1024;

export interface QuickJsAgentSpec {
  agentId: string;
  code: string;
  memoryMiB: number;
  /** Largest JSON text (UTF-16 code units) a result may serialize to. */
  resultCapChars: number;
  /** The host side of `ctx` (config, log, kv, dns, fetch); the agent owns it from now on and closes it on dispose. */
  capabilities: AgentCapabilities;
}

/** One live QuickJS instance of the agent; thrown away whole (module and memory) when it cannot be trusted. */
interface Instance {
  module: QuickJSWASMModule;
  runtime: QuickJSRuntime;
  context: QuickJSContext;
  start: QuickJSHandle;
  finish: QuickJSHandle;
  settle: QuickJSHandle;
  describe: QuickJSHandle;
}

/** What a call into the engine produced: a tagged string from the runner, or an error that escaped it. */
type Answer = { tagged: string } | { escaped: string };

function message(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

const OUT_OF_MEMORY = /out of memory/i;

export class QuickJsAgent {
  readonly agentId: string;
  readonly #spec: QuickJsAgentSpec;
  /** Interrupt deadline (performance.now() time) of the work in progress; -Infinity between calls. */
  #deadline = Number.NEGATIVE_INFINITY;
  /** Set when the interrupt handler stopped the engine during the current call. */
  #interrupted = false;
  #instance: Instance | undefined;
  /** While a call runs: the instance it runs in (capability replies are delivered only there, only then). */
  #calling: Instance | undefined;
  /** An error that escaped while delivering a capability reply; ends the waiting call. */
  #fault: string | undefined;
  #wake: (() => void) | undefined;
  #disposed = false;
  /** The last queued call: calls into one agent run one at a time. */
  #tail: Promise<unknown> = Promise.resolve();

  private constructor(spec: QuickJsAgentSpec) {
    this.agentId = spec.agentId;
    this.#spec = spec;
  }

  /** Builds the first instance; rejects with an Error that says why the code could not be loaded. */
  static async load(spec: QuickJsAgentSpec): Promise<QuickJsAgent> {
    const agent = new QuickJsAgent(spec);
    const failed = await agent.#rebuild();
    if (failed !== undefined) throw new Error(failed);
    return agent;
  }

  /** A fresh module with its own memory, the hardened context, the runner, then the agent's code, all under LOAD_TIMEOUT_MS. */
  async #build(): Promise<Instance> {
    const spec = this.#spec;
    const module = await newAgentModule(spec.memoryMiB);
    const runtime = module.newRuntime();
    runtime.setMemoryLimit(spec.memoryMiB * MIB);
    runtime.setMaxStackSize(MAX_STACK_BYTES);
    runtime.setInterruptHandler(() => {
      if (performance.now() <= this.#deadline) return false;
      this.#interrupted = true;
      return true;
    });
    const context = runtime.newContext();
    // Capability replies are addressed to this instance; they find it once it is built.
    let built: Instance | undefined;
    this.#deadline = performance.now() + LOAD_TIMEOUT_MS;
    try {
      const prelude = context.evalCode(PRELUDE, 'sluice:prelude');
      if (prelude.error) {
        const why = QuickJsAgent.#ownMessage(context, prelude.error);
        prelude.error.dispose();
        throw new Error(`the sandbox prelude failed: ${why}`);
      }
      prelude.value.dispose();
      QuickJsAgent.#installBridge(context, spec.capabilities.bridge((id, reply) => this.#deliver(built, id, reply)));
      const factory = context.unwrapResult(context.evalCode(RUNNER, 'sluice:runner'));
      const cap = context.newNumber(spec.resultCapChars);
      const made = context.callFunction(factory, context.undefined, cap);
      factory.dispose();
      cap.dispose();
      if (made.error) {
        const why = QuickJsAgent.#ownMessage(context, made.error);
        made.error.dispose();
        throw new Error(`the sandbox runner failed: ${why}`);
      }
      const runner = made.value;
      const instance: Instance = {
        module,
        runtime,
        context,
        start: context.getProp(runner, 'start'),
        finish: context.getProp(runner, 'finish'),
        settle: context.getProp(runner, 'settle'),
        describe: context.getProp(runner, 'describe'),
      };
      runner.dispose();
      const ran = context.evalCode(spec.code, `agent:${spec.agentId}`);
      if (ran.error) {
        const why = performance.now() > this.#deadline ? `top-level code ran past ${LOAD_TIMEOUT_MS} ms` : QuickJsAgent.#describe(instance, ran.error);
        throw new Error(why);
      }
      ran.value.dispose();
      if (runtime.hasPendingJob()) {
        const jobs = runtime.executePendingJobs();
        if (jobs.error) {
          const why = performance.now() > this.#deadline ? `top-level jobs ran past ${LOAD_TIMEOUT_MS} ms` : QuickJsAgent.#describe(instance, jobs.error);
          throw new Error(why);
        }
      }
      const check = context.unwrapResult(context.evalCode(CHECK_AGENT, 'sluice:check'));
      const found = context.getString(check);
      check.dispose();
      if (found !== 'ok') throw new Error(`the code must assign an object to globalThis.agent (found ${found})`);
      built = instance;
      return instance;
    } catch (error) {
      // The module is dropped whole: its memory goes with it, whatever state the engine was left in.
      throw new Error(error instanceof Error ? error.message : String(error));
    } finally {
      this.#deadline = Number.NEGATIVE_INFINITY;
    }
  }

  /**
   * Puts `{ setup, log, call }` on the global for the capability prelude, which the runner evaluates
   * and which deletes it again. The host functions take only strings and numbers out of the sandbox
   * and never throw into it.
   */
  static #installBridge(context: QuickJSContext, bridge: CapabilityBridge): void {
    const text = (h: QuickJSHandle): string | undefined => (context.typeof(h) === 'string' ? context.getString(h) : undefined);
    const log = context.newFunction('log', (level, message, fieldsJson) => {
      try {
        bridge.log(text(level), text(message), text(fieldsJson));
      } catch {
        // The bridge reports its own failures; nothing reaches the agent.
      }
    });
    const call = context.newFunction('call', (id, op, argsJson) => {
      try {
        bridge.call(context.typeof(id) === 'number' ? context.getNumber(id) : undefined, text(op), text(argsJson));
      } catch {
        // As above: a call that could not start gets no reply, and the event's budget ends the wait.
      }
    });
    const setup = context.newString(bridge.setup);
    const object = context.newObject();
    context.setProp(object, 'setup', setup);
    context.setProp(object, 'log', log);
    context.setProp(object, 'call', call);
    context.setProp(context.global, BRIDGE_GLOBAL, object);
    for (const handle of [setup, log, call, object]) handle.dispose();
  }

  /**
   * A capability reply for a call of the running event: settles the agent's promise inside the
   * sandbox, under the event's interrupt deadline; the waiting call then runs the jobs it queued.
   */
  #deliver(instance: Instance | undefined, id: number, reply: string): void {
    if (instance === undefined || instance !== this.#calling) return;
    const { context } = instance;
    try {
      const idHandle = context.newNumber(id);
      const replyHandle = context.newString(reply);
      const settled = context.callFunction(instance.settle, context.undefined, idHandle, replyHandle);
      idHandle.dispose();
      replyHandle.dispose();
      if (settled.error) {
        this.#fault = QuickJsAgent.#ownMessage(context, settled.error);
        settled.error.dispose();
      } else {
        settled.value.dispose();
      }
    } catch (error) {
      this.#fault = `engine fault: ${message(error)}`;
    }
    this.#wake?.();
  }

  /** The message of an error the engine itself raised (interrupt, out of memory): an own data property, read without running code. */
  static #ownMessage(context: QuickJSContext, error: QuickJSHandle): string {
    try {
      if (context.typeof(error) !== 'object') return `thrown ${context.typeof(error)}`;
      const name = context.getProp(error, 'name');
      const text = context.getProp(error, 'message');
      const out = `${context.typeof(name) === 'string' ? context.getString(name) : 'Error'}: ${context.typeof(text) === 'string' ? context.getString(text) : 'unknown'}`;
      name.dispose();
      text.dispose();
      return out;
    } catch (e) {
      return `an error that cannot be read (${message(e)})`;
    }
  }

  /** The message of a value the agent's code threw, described inside the sandbox (its getters run there). */
  static #describe(instance: Instance, error: QuickJSHandle): string {
    const { context } = instance;
    const described = context.callFunction(instance.describe, context.undefined, error);
    error.dispose();
    if (described.error) {
      const why = QuickJsAgent.#ownMessage(context, described.error);
      described.error.dispose();
      return why;
    }
    const text = context.typeof(described.value) === 'string' ? context.getString(described.value) : 'an error that cannot be described';
    described.value.dispose();
    return text;
  }

  /**
   * Runs one handler under `budgetMs`: synchronously first, then the jobs it queued, and for a handler
   * that returned a thenable, its jobs until the thenable settles or the budget is spent. Never
   * rejects; a timeout, out-of-memory or engine fault replaces the instance before returning.
   */
  call(event: string, payloadJson: string, budgetMs: number): Promise<RawOutcome> {
    // One call at a time per agent: a call waiting on a promise must not have its runner state replaced.
    const result = this.#tail.then(() => this.#call(event, payloadJson, budgetMs));
    this.#tail = result.catch(() => {});
    return result;
  }

  async #call(event: string, payloadJson: string, budgetMs: number): Promise<RawOutcome> {
    if (this.#disposed) return { kind: 'error', error: 'agent not loaded' };
    if (this.#instance === undefined) {
      const rebuilt = await this.#rebuild();
      if (rebuilt !== undefined) return { kind: 'error', error: `the agent could not be rebuilt: ${rebuilt}` };
    }
    const instance = this.#instance as Instance;
    const capabilities = this.#spec.capabilities;
    capabilities.beginEvent(budgetMs);
    const deadline = performance.now() + budgetMs;
    this.#deadline = deadline;
    this.#calling = instance;
    this.#fault = undefined;
    this.#interrupted = false;
    let outcome: RawOutcome;
    let replace = false;
    try {
      const answer = await this.#run(instance, event, payloadJson, budgetMs, deadline);
      if (this.#interrupted) {
        // Whatever came back, the engine was interrupted: an interrupt that a promise job turned into
        // a rejection (QuickJS lets a job's exception reject its promise) must not pass as a result.
        replace = true;
        outcome = { kind: 'timeout', error: `exceeded its budget of ${budgetMs} ms` };
      } else if ('tagged' in answer) {
        outcome = decodeRunnerOutput(answer.tagged);
        replace = outcome.kind === 'error' && OUT_OF_MEMORY.test(outcome.error);
      } else {
        replace = true;
        outcome = performance.now() >= deadline ? { kind: 'timeout', error: `exceeded its budget of ${budgetMs} ms` } : { kind: 'error', error: answer.escaped };
      }
    } catch (error) {
      // Something escaped the engine itself: the host's stack ran out inside WebAssembly, or the module
      // trapped. The instance's state is unknown, so it is replaced.
      replace = true;
      outcome = performance.now() >= deadline ? { kind: 'timeout', error: `exceeded its budget of ${budgetMs} ms` } : { kind: 'error', error: `engine fault: ${message(error)}` };
    } finally {
      this.#calling = undefined;
      this.#deadline = Number.NEGATIVE_INFINITY;
      capabilities.endEvent();
    }
    if (outcome.kind === 'timeout') replace = true;
    if (replace) {
      this.#instance = undefined;
      const failed = await this.#rebuild();
      if (failed !== undefined && outcome.kind === 'error') outcome = { kind: 'error', error: `${outcome.error}; the agent could not be rebuilt: ${failed}` };
    }
    return outcome;
  }

  async #run(instance: Instance, event: string, payloadJson: string, budgetMs: number, deadline: number): Promise<Answer> {
    const { context, runtime } = instance;
    const eventHandle = context.newString(event);
    const payloadHandle = context.newString(payloadJson);
    const budgetHandle = context.newNumber(budgetMs);
    const started = context.callFunction(instance.start, context.undefined, eventHandle, payloadHandle, budgetHandle);
    eventHandle.dispose();
    payloadHandle.dispose();
    budgetHandle.dispose();
    if (started.error) return this.#escaped(context, started.error);
    const tagged = context.getString(started.value);
    started.value.dispose();
    if (tagged !== 'P') {
      // Jobs the handler queued belong to this call and run under its budget (a microtask flood times out).
      if (runtime.hasPendingJob()) {
        const jobs = runtime.executePendingJobs();
        if (jobs.error) return this.#escaped(context, jobs.error);
      }
      return { tagged };
    }
    const finishing = context.callFunction(instance.finish, context.undefined);
    if (finishing.error) return this.#escaped(context, finishing.error);
    const promise = finishing.value;
    try {
      for (;;) {
        if (this.#fault !== undefined) return { escaped: this.#fault };
        const jobs = runtime.executePendingJobs();
        if (jobs.error) return this.#escaped(context, jobs.error);
        const state = context.getPromiseState(promise);
        if (state.type === 'fulfilled') {
          const text = context.typeof(state.value) === 'string' ? context.getString(state.value) : '';
          state.value.dispose();
          return { tagged: text };
        }
        if (state.type === 'rejected') return this.#escaped(context, state.error);
        // Nothing left to run inside: only a host answer (a capability) could settle it; wait for one or the deadline.
        const left = deadline - performance.now();
        if (left <= 0) return { escaped: 'pending past the deadline' };
        await this.#sleep(left);
      }
    } finally {
      if (promise.alive) promise.dispose();
    }
  }

  #escaped(context: QuickJSContext, error: QuickJSHandle): Answer {
    const text = QuickJsAgent.#ownMessage(context, error);
    error.dispose();
    return { escaped: text };
  }

  /** Waits up to `ms`, or until a host callback (a capability's answer) has something for the agent. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, Math.ceil(ms));
      this.#wake = () => {
        this.#wake = undefined;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Builds a fresh instance from the agent's code; returns why it failed, or undefined. */
  async #rebuild(): Promise<string | undefined> {
    if (this.#disposed) return 'agent unloaded';
    try {
      const instance = await this.#build();
      if (this.#disposed) return 'agent unloaded';
      this.#instance = instance;
      return undefined;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }

  /** Drops the instance (its WebAssembly memory is released with it) and closes the capabilities (the kv store). */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#instance = undefined;
    await this.#spec.capabilities.close();
  }
}
