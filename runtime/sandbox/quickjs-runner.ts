/** Code evaluated inside each agent's QuickJS context before the agent's own: the hardening prelude and the call runner. */
import { CONTEXT_PRELUDE } from './capabilities.ts';

/** Globals removed before agent code runs. QuickJS-ng defines only a few of them; the list says what the sandbox promises. */
export const REMOVED_GLOBALS = [
  'SharedArrayBuffer',
  'Atomics',
  'WebAssembly',
  'require',
  'process',
  'fetch',
  'Deno',
  'Bun',
  'global',
  'module',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'performance',
  'gc',
  'std',
  'os',
] as const;

/**
 * Removes the globals above, and gives QuickJS-ng's call sites the `getThis()` of V8's stack-trace
 * API (agents may be written against V8): always undefined, as V8 answers for strict-mode frames, and
 * true here for every frame, since QuickJS call sites keep no receiver.
 */
export const PRELUDE = `(() => {
  const g = globalThis;
  for (const name of ${JSON.stringify(REMOVED_GLOBALS)}) {
    if (Object.prototype.hasOwnProperty.call(g, name) && !delete g[name]) throw new Error('cannot remove ' + name);
    if (typeof g[name] !== 'undefined') throw new Error(name + ' is still reachable');
  }
  const had = Object.prototype.hasOwnProperty.call(Error, 'prepareStackTrace');
  const before = Error.prepareStackTrace;
  Error.prepareStackTrace = (error, frames) => frames;
  const frames = new Error().stack;
  if (had) Error.prepareStackTrace = before;
  else delete Error.prepareStackTrace;
  const site = Array.isArray(frames) && frames.length > 0 ? Object.getPrototypeOf(frames[0]) : undefined;
  if (site && typeof site.getThis !== 'function') {
    Object.defineProperty(site, 'getThis', { value: function getThis() { return undefined; }, writable: true, configurable: true });
  }
})();`;

/**
 * Evaluates to a factory `(cap) => runner`, called once per instance after the capability bridge was
 * put on the global and before the agent's code, so it holds the original intrinsics. It embeds the
 * shared capability prelude (runtime/sandbox/capability-prelude.ts), which builds `ctx` — the same
 * `ctx` the isolated-vm driver gives — and consumes the bridge. Everything that can run agent code
 * (getters, toJSON, Proxy traps, thenables, a log message's toString) runs in here, under the call's
 * interrupt deadline; only strings leave. Results are tagged strings: R<json> result (no result at
 * all is `continue`), N no handler, B<why> bad result, E<message> thrown, P pending. `start` runs the
 * handler synchronously; when it returns a thenable, `start` keeps it and answers P, and `finish`
 * returns a promise of the tagged string, which the host settles by running jobs — the handler is
 * never called twice. `settle` delivers a capability reply; `describe` turns a value thrown by the
 * agent's top-level code into a message.
 */
export const RUNNER = `(function (cap) {
  'use strict';
  const control = ${CONTEXT_PRELUDE};
  const ctx = control.ctx, begin = control.begin, settle = control.settle;
  const g = globalThis, parse = JSON.parse, stringify = JSON.stringify, apply = Reflect.apply, Str = String, freeze = Object.freeze;
  const describe = (e) => {
    try {
      if (e !== null && typeof e === 'object' && typeof e.message === 'string') return Str(e.name) + ': ' + e.message;
      return 'thrown ' + (e === null ? 'null' : typeof e) + ': ' + Str(e);
    } catch { return 'thrown a value that cannot be described'; }
  };
  const failed = (e) => {
    const message = describe(e);
    return 'E' + (message.length > 1000 ? message.slice(0, 1000) + '…' : message);
  };
  const serialize = (result) => {
    // Returning nothing means "continue" (the SDK's handler contract).
    if (result === undefined) return 'R{"verdict":"continue"}';
    if (result === null || typeof result !== 'object') return 'Bresult is ' + (result === null ? 'null' : typeof result) + ', not an object';
    const json = stringify(result);
    if (typeof json !== 'string') return 'Bresult does not serialize to JSON';
    if (json.length > cap) return 'Bresult of ' + json.length + ' characters exceeds the cap of ' + cap;
    return 'R' + json;
  };
  let pending;
  return freeze({
    start(event, payloadJson, budgetMs) {
      pending = undefined;
      begin(budgetMs);
      try {
        const agent = g.agent;
        const handler = agent === null || agent === undefined ? undefined : agent[event];
        if (typeof handler !== 'function') return 'N';
        const result = apply(handler, agent, [parse(payloadJson), ctx]);
        if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
          pending = result;
          return 'P';
        }
        return serialize(result);
      } catch (e) {
        return failed(e);
      }
    },
    async finish() {
      const p = pending;
      pending = undefined;
      try {
        return serialize(await p);
      } catch (e) {
        return failed(e);
      }
    },
    settle(id, reply) {
      settle(id, reply);
    },
    describe(e) {
      return describe(e);
    },
  });
})`;

export const CHECK_AGENT = `(() => { const a = globalThis.agent; return a !== null && typeof a === 'object' ? 'ok' : typeof a; })()`;
