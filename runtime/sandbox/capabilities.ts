/**
 * The host side of an agent's `ctx`, for any sandbox driver: grants checked at load, the bridge the
 * in-sandbox prelude (`CONTEXT_PRELUDE`) builds `ctx` from, argument validation, the per-event time
 * budget every call is bounded by, and the log line budget. Only strings cross the bridge.
 *
 * A driver, per agent: `await AgentCapabilities.open(spec, onLog)`; for each sandbox it builds,
 * `bridge(settle)` → put `{ setup, log, call }` on `globalThis[BRIDGE_GLOBAL]`, evaluate
 * `CONTEXT_PRELUDE`, keep its controller; per event: `beginEvent(budgetMs)` + `controller.begin(budgetMs)`,
 * call `agent[event](payload, controller.ctx)`, then `endEvent()`; `settle(id, reply)` must call
 * `controller.settle(id, reply)` inside the sandbox (and drain its microtasks), under at most
 * `remainingMs()`. On unload, `close()`.
 */
import path from 'node:path';
import * as v from 'valibot';
import type { DnsRecordType, LogLevel } from '../../sdk/context.ts';
import { CONTEXT_LIMITS } from '../../sdk/context.ts';
import { CapabilityError, failureReason } from './capability-error.ts';
import { checkDnsServers, DNS_RECORD_TYPES, resolveDns } from './capability-dns.ts';
import { fetchCapability, parseFetchOrigins } from './capability-fetch.ts';
import { acquireKvStore, type KvLease } from './capability-kv.ts';
import { LOG_LEVELS, LogBudget, parseLogFields, truncateUtf8 } from './capability-log.ts';
import type { AgentLoadSpec } from './protocol.ts';

export { BRIDGE_GLOBAL, CONTEXT_PRELUDE } from './capability-prelude.ts';
export { CapabilityError } from './capability-error.ts';

/** Capabilities that are granted one by one (`log` is always there). */
export type GrantedCapability = 'kv' | 'dns' | 'fetch';

/** Where an agent's log lines go (for the host process: a `log` frame to the server). */
export type AgentLogSink = (agentId: string, level: LogLevel, message: string, fields: Record<string, unknown> | undefined) => void;

/** The three things a driver puts on `globalThis[BRIDGE_GLOBAL]` for the prelude. */
export interface CapabilityBridge {
  /** JSON: the agent's config and its granted capabilities. */
  readonly setup: string;
  /** Synchronous: writes one log line (subject to the event's line budget). */
  log(level: unknown, message: unknown, fieldsJson: unknown): void;
  /** Starts call `id`; its reply comes later through the `settle` given to `bridge()`, only while the event runs. */
  call(id: unknown, op: unknown, argsJson: unknown): void;
}

/** Delivers reply `reply` for call `id` into the sandbox (`'O' + json` or `'E' + message`). */
export type Settle = (id: number, reply: string) => void;

const Key = v.string('must be a string');
/** A strict object's two failures: not an object at all, or a key it does not know (the path names the key). */
const objectMessage =
  (example: string) =>
  (issue: v.BaseIssue<unknown>): string =>
    issue.expected === 'never' ? 'is not a known option' : `must be an object such as ${example}`;
const OP_ARGS = {
  'kv.get': { names: ['key'], schema: v.tuple([Key]) },
  'kv.set': {
    names: ['key', 'value', 'options'],
    schema: v.tuple([
      Key,
      v.string('must be a string'),
      v.nullable(v.strictObject({ ttlMs: v.optional(v.pipe(v.number('must be a number'), v.finite('must be finite'), v.minValue(1, 'must be at least 1'))) }, objectMessage('{ ttlMs: 60000 }'))),
    ]),
  },
  'kv.delete': { names: ['key'], schema: v.tuple([Key]) },
  'dns.resolve': {
    names: ['name', 'type'],
    schema: v.tuple([v.pipe(v.string('must be a string'), v.maxLength(300, 'is too long')), v.picklist(DNS_RECORD_TYPES, `must be one of ${DNS_RECORD_TYPES.join(', ')}`)]),
  },
  fetch: {
    names: ['url', 'init'],
    schema: v.tuple([
      v.pipe(v.string('must be a string'), v.maxLength(8192, 'is longer than 8192 characters')),
      v.nullable(
        v.strictObject(
          {
            method: v.optional(v.string('must be a string')),
            headers: v.optional(v.record(v.string(), v.string('must be a string'), 'must be an object of strings')),
            body: v.optional(v.string('must be a string')),
          },
          objectMessage("{ method: 'POST', headers: {}, body: '' }"),
        ),
      ),
    ]),
  },
} as const;
type Op = keyof typeof OP_ARGS;
const OP_GRANT: Record<Op, GrantedCapability> = { 'kv.get': 'kv', 'kv.set': 'kv', 'kv.delete': 'kv', 'dns.resolve': 'dns', fetch: 'fetch' };

function isOp(op: string): op is Op {
  return Object.prototype.hasOwnProperty.call(OP_ARGS, op);
}

/** The op's arguments, or a CapabilityError that names the argument (`kv.set: options.ttlMs must be at least 1`). */
function parseArgs<O extends Op>(op: O, argsJson: string): v.InferOutput<(typeof OP_ARGS)[O]['schema']> {
  let args: unknown;
  try {
    args = JSON.parse(argsJson);
  } catch {
    throw new CapabilityError('invalid-argument', `${op}: the arguments are not JSON`);
  }
  const { names, schema } = OP_ARGS[op];
  const parsed = v.safeParse(schema, args);
  if (parsed.success) return parsed.output as v.InferOutput<(typeof OP_ARGS)[O]['schema']>;
  const issue = parsed.issues[0];
  const keys = (issue?.path ?? []).map((item) => item.key);
  const first = typeof keys[0] === 'number' ? (names[keys[0]] ?? `argument ${keys[0] + 1}`) : 'arguments';
  const field = [first, ...keys.slice(1).map(String)].join('.');
  const message = issue?.message ?? 'is invalid';
  // valibot's own messages ("Invalid key: ...") read as a sentence after a colon; ours continue the field name.
  throw new CapabilityError('invalid-argument', /^[A-Z]/.test(message) ? `${op}: ${field}: ${message}` : `${op}: ${field} ${message}`);
}

type EventState = { deadline: number; log: LogBudget; inFlight: number };

/** The JSON text of one call's arguments: room for the largest legal fetch body, escaped. */
export const ARGS_MAX_CHARS = 2 * 1024 * 1024;

export class AgentCapabilities {
  readonly agentId: string;
  readonly granted: ReadonlySet<GrantedCapability>;
  /** JSON for the prelude: `{ config, capabilities, limits }`. */
  readonly setup: string;
  #onLog: AgentLogSink;
  #kv: KvLease | undefined;
  #origins: ReadonlySet<string>;
  #dnsServers: readonly string[] | undefined;
  #event: EventState | undefined;
  #closed = false;

  private constructor(spec: AgentLoadSpec, granted: ReadonlySet<GrantedCapability>, origins: ReadonlySet<string>, kv: KvLease | undefined, onLog: AgentLogSink) {
    this.agentId = spec.agentId;
    this.granted = granted;
    this.#origins = origins;
    this.#kv = kv;
    this.#dnsServers = granted.has('dns') ? spec.grants?.dnsServers : undefined;
    this.#onLog = onLog;
    this.setup = JSON.stringify({ config: spec.config, capabilities: [...granted], limits: { callsInFlight: CONTEXT_LIMITS.callsInFlight, argsChars: ARGS_MAX_CHARS } });
  }

  /**
   * Checks the spec's grants and opens what they need (the kv store). Throws an Error whose message
   * names the grant field at fault. No grants at all means `log` only.
   */
  static async open(spec: AgentLoadSpec, onLog: AgentLogSink): Promise<AgentCapabilities> {
    const grants = spec.grants;
    const granted = new Set<GrantedCapability>();
    for (const name of grants?.capabilities ?? []) if (name !== 'log') granted.add(name);
    try {
      JSON.stringify(spec.config);
    } catch {
      throw new Error('config: must be JSON data');
    }
    const origins = granted.has('fetch') ? parseFetchOrigins(grants?.fetchOrigins ?? []) : new Set<string>();
    if (granted.has('dns') && grants?.dnsServers !== undefined) checkDnsServers(grants.dnsServers);
    let kv: KvLease | undefined;
    if (granted.has('kv')) {
      const dir = grants?.kvDir;
      if (dir === undefined || !path.isAbsolute(dir)) throw new Error('grants.kvDir: an absolute directory is required when kv is granted');
      try {
        kv = await acquireKvStore(dir);
      } catch (error) {
        throw new Error(`grants.kvDir: cannot open the store (${failureReason(error)})`);
      }
    }
    return new AgentCapabilities(spec, granted, origins, kv, onLog);
  }

  /** The bridge for one sandbox; `settle` delivers replies into that sandbox. */
  bridge(settle: Settle): CapabilityBridge {
    return {
      setup: this.setup,
      log: (level, message, fieldsJson) => this.#log(level, message, fieldsJson),
      call: (id, op, argsJson) => this.#call(id, op, argsJson, settle),
    };
  }

  /** Starts an event: capability calls are bounded by `budgetMs` from now; the log line budget resets. */
  beginEvent(budgetMs: number): void {
    this.#event = { deadline: performance.now() + budgetMs, log: new LogBudget(), inFlight: 0 };
  }

  /** Ends the event: replies still to come are dropped; suppressed log lines are reported as one line. */
  endEvent(): void {
    const event = this.#event;
    this.#event = undefined;
    const suppressed = event?.log.suppressed ?? 0;
    if (suppressed > 0) {
      this.#emit('warn', `suppressed ${suppressed} log lines over the limit of ${event?.log.limit ?? 0} per event`, { suppressed });
    }
  }

  /** Milliseconds left of the current event's budget (0 outside an event). */
  remainingMs(): number {
    const event = this.#event;
    return event === undefined ? 0 : Math.max(0, event.deadline - performance.now());
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#event = undefined;
    await this.#kv?.release();
  }

  #emit(level: LogLevel, message: string, fields: Record<string, unknown> | undefined): void {
    try {
      this.#onLog(this.agentId, level, message, fields);
    } catch {
      // A failing log sink must not reach into the sandbox.
    }
  }

  #log(level: unknown, message: unknown, fieldsJson: unknown): void {
    const event = this.#event;
    if (event === undefined || typeof level !== 'string' || !LOG_LEVELS.has(level) || typeof message !== 'string') return;
    if (!event.log.take()) return;
    this.#emit(level as LogLevel, truncateUtf8(message, CONTEXT_LIMITS.logMessageBytes), typeof fieldsJson === 'string' ? parseLogFields(fieldsJson) : undefined);
  }

  #call(id: unknown, op: unknown, argsJson: unknown, settle: Settle): void {
    const event = this.#event;
    if (event === undefined || typeof id !== 'number' || typeof op !== 'string' || typeof argsJson !== 'string') return;
    // Counted here, synchronously: calls made in one burst cannot all slip under the limit.
    const refusal =
      event.inFlight >= CONTEXT_LIMITS.callsInFlight
        ? `${op.slice(0, 40)}: more than ${CONTEXT_LIMITS.callsInFlight} capability calls in flight`
        : argsJson.length > ARGS_MAX_CHARS
          ? `${op.slice(0, 40)}: the arguments are larger than ${ARGS_MAX_CHARS} characters of JSON`
          : undefined;
    if (refusal === undefined) event.inFlight++;
    const answer = refusal === undefined ? this.#answer(event, op, argsJson).finally(() => event.inFlight--) : Promise.resolve(`E${refusal}`);
    // The reply always comes asynchronously (the sandbox is still inside this call), and only to the
    // event that asked, while it has budget left.
    void answer.then((reply) => {
      if (this.#event !== event || this.remainingMs() <= 0) return;
      try {
        settle(id, reply);
      } catch {
        // The driver's settle reports its own failures (a timed-out continuation); nothing to do here.
      }
    });
  }

  async #answer(event: EventState, op: string, argsJson: string): Promise<string> {
    try {
      const value = await this.#bounded(event, op, (signal, leftMs) => this.#dispatch(op, argsJson, signal, leftMs));
      return value === undefined ? 'O' : `O${JSON.stringify(value)}`;
    } catch (error) {
      if (error instanceof CapabilityError) return `E${error.message}`;
      return `E${op.slice(0, 40)} failed (${failureReason(error)})`;
    }
  }

  /** Runs `work` under what is left of the event's budget: past it, the call fails and its signal aborts. */
  async #bounded<T>(event: EventState, op: string, work: (signal: AbortSignal, leftMs: number) => Promise<T>): Promise<T> {
    const leftMs = event.deadline - performance.now();
    const spent = (): CapabilityError => new CapabilityError('timeout', `${op.slice(0, 40)}: the event's time budget ran out`);
    if (leftMs <= 0) throw spent();
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(spent());
      }, Math.ceil(leftMs));
    });
    try {
      return await Promise.race([work(controller.signal, leftMs), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #dispatch(op: string, argsJson: string, signal: AbortSignal, leftMs: number): Promise<unknown> {
    if (!isOp(op)) throw new CapabilityError('invalid-argument', `unknown capability call ${JSON.stringify(op.slice(0, 40))}`);
    const grant = OP_GRANT[op];
    if (!this.granted.has(grant)) throw new CapabilityError('not-granted', `${op}: the ${grant} capability is not granted to this agent`);
    switch (op) {
      case 'kv.get': {
        const [key] = parseArgs(op, argsJson);
        return this.#store().get(key);
      }
      case 'kv.set': {
        const [key, value, options] = parseArgs(op, argsJson);
        await this.#store().set(key, value, options?.ttlMs);
        return undefined;
      }
      case 'kv.delete': {
        const [key] = parseArgs(op, argsJson);
        return this.#store().delete(key);
      }
      case 'dns.resolve': {
        const [name, type] = parseArgs(op, argsJson);
        return resolveDns(name, type as DnsRecordType, { servers: this.#dnsServers, timeoutMs: leftMs, signal });
      }
      case 'fetch': {
        const [url, init] = parseArgs(op, argsJson);
        return fetchCapability({ url, ...(init ?? {}) }, this.#origins, signal);
      }
    }
  }

  #store(): KvLease['store'] {
    if (this.#kv === undefined || this.#closed) throw new CapabilityError('failed', 'kv: the store is closed');
    return this.#kv.store;
  }
}
