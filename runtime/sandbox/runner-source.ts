/**
 * The call runner every sandbox driver evaluates inside its sandbox (isolated-vm and QuickJS run the
 * same source), the check that the agent's code defined an agent, and the decoding of the runner's
 * tagged answers on the host side.
 */
import { CONTEXT_PRELUDE } from './capabilities.ts';
import type { RawOutcome } from './chain-runner.ts';

/** Largest JSON text (UTF-16 code units) an agent's result may serialize to. */
export const RESULT_CAP_CHARS = 64 * 1024;

/**
 * Evaluates to a factory `(cap) => runner`, called once per sandbox (isolate or QuickJS instance)
 * after the capability bridge was put on the global and before the agent's code, so it holds the
 * original intrinsics; `cap` is the largest result, in UTF-16 code units of JSON. It embeds the
 * shared capability prelude (runtime/sandbox/capability-prelude.ts), which builds `ctx` — the same
 * `ctx` the isolated-vm driver gives — and consumes the bridge. Everything that can run agent code
 * (getters, toJSON, Proxy traps, thenables, a log message's toString) runs in here, under the call's
 * time limit; only strings leave. Results are tagged strings: R<json> result (no result at
 * all is `continue`), N no handler, B<why> bad result, E<message> thrown, P pending. `start` runs the
 * handler synchronously; when it returns a thenable, `start` keeps it and answers P, and `finish`
 * returns a promise of the tagged string — the handler is never called twice. `settle` delivers a capability reply; `describe` turns a value thrown by the
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

/** A runner's tagged answer as an outcome (P, pending, is handled by each driver before this). */
export function decodeRunnerOutput(tagged: string): RawOutcome {
  const tag = tagged[0];
  const rest = tagged.slice(1);
  if (tag === 'R') return { kind: 'result', json: rest };
  if (tag === 'N') return { kind: 'no-handler' };
  if (tag === 'B') return { kind: 'bad-result', error: rest };
  if (tag === 'E') return { kind: 'error', error: rest };
  return { kind: 'error', error: 'the sandbox runner returned no tagged string' };
}
