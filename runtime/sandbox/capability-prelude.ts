/**
 * The in-sandbox half of the capabilities, as JavaScript source any driver evaluates: it builds
 * `ctx` from the bridge the host placed on `globalThis[BRIDGE_GLOBAL]`, then deletes the bridge.
 */

/** Where a driver puts the bridge (`{ setup, log, call }`) just before evaluating `CONTEXT_PRELUDE`. */
export const BRIDGE_GLOBAL = '__sluiceBridge';

/**
 * A JavaScript expression. Evaluate it inside the sandbox, before any agent code, after setting
 * `globalThis[BRIDGE_GLOBAL] = { setup, log, call }` where
 *   - `setup` is the JSON string `AgentCapabilities.setup` gives,
 *   - `log(level, message, fieldsJson)` is a synchronous host function (strings in, nothing out),
 *   - `call(id, op, argsJson)` is a host function that starts a call and returns at once; the host
 *     later answers by calling the controller's `settle(id, reply)` (see `AgentCapabilities.bridge`).
 * It evaluates to a frozen controller `{ ctx, begin(budgetMs), settle(id, reply) }` that the driver
 * keeps out of the agent's reach: `ctx` is the handler's second argument, `begin` starts each event
 * (the `remainingMs` clock; forgets calls of earlier events), `settle` delivers a reply.
 *
 * Everything the agent can touch is an in-sandbox function made here, in strict mode, over intrinsics
 * captured before agent code runs; the bridge functions are only ever called directly, never passed
 * anywhere or called through a property an agent could replace. Only strings cross the bridge.
 */
export const CONTEXT_PRELUDE = `(() => {
  'use strict';
  const g = globalThis;
  const bridge = g.${BRIDGE_GLOBAL};
  if (bridge === null || typeof bridge !== 'object') throw new Error('the capability bridge is missing');
  const sink = bridge.log, send = bridge.call, setup = JSON.parse(bridge.setup);
  if (!delete g.${BRIDGE_GLOBAL} || g.${BRIDGE_GLOBAL} !== undefined) throw new Error('cannot remove the capability bridge');
  if (typeof sink !== 'function' || typeof send !== 'function') throw new Error('the capability bridge is incomplete');
  const stringify = JSON.stringify, parse = JSON.parse, freeze = Object.freeze, isFrozen = Object.isFrozen;
  const keys = Object.keys, create = Object.create, now = Date.now, apply = Reflect.apply;
  const Str = String, Err = Error, P = Promise, slice = String.prototype.slice, charAt = String.prototype.charAt;
  const MESSAGE_CHARS = 2048, FIELDS_CHARS = 8192;

  const deepFreeze = (root) => {
    const stack = [root];
    while (stack.length > 0) {
      const o = stack.pop();
      if (o === null || typeof o !== 'object' || isFrozen(o)) continue;
      freeze(o);
      for (const k of keys(o)) stack.push(o[k]);
    }
    return root;
  };

  const line = (level) => (message, fields) => {
    let text = typeof message === 'string' ? message : Str(message);
    if (text.length > MESSAGE_CHARS) text = apply(slice, text, [0, MESSAGE_CHARS + 1]);
    let json = '';
    if (fields !== undefined) {
      try {
        json = stringify(fields);
      } catch (e) {
        json = '{"fieldsError":"fields do not serialize to JSON"}';
      }
      if (typeof json !== 'string') json = '';
      else if (json.length > FIELDS_CHARS) json = '{"fieldsTruncated":true,"fieldsChars":' + json.length + '}';
    }
    sink(level, text, json);
  };

  // The same limits the host enforces, applied first here so that a flood of calls never crosses the bridge.
  const CALLS = setup.limits.callsInFlight, ARGS_CHARS = setup.limits.argsChars;
  let seq = 0, deadline = 0, inFlight = 0, pending = create(null);
  const refuse = (message) => new P((_, reject) => reject(new Err(message)));
  const rpc = (op, args) => {
    if (inFlight >= CALLS) return refuse(op + ': more than ' + CALLS + ' capability calls in flight');
    let json;
    try {
      json = stringify(args);
    } catch (e) {
      return refuse(op + ': the arguments do not serialize to JSON');
    }
    if (typeof json !== 'string' || json.length > ARGS_CHARS) return refuse(op + ': the arguments are larger than ' + ARGS_CHARS + ' characters of JSON');
    return new P((resolve, reject) => {
      const id = ++seq;
      pending[id] = { resolve, reject, op };
      inFlight++;
      send(id, op, json);
    });
  };
  const opt = (value) => (value === undefined ? null : value);

  const has = (name) => {
    const granted = setup.capabilities;
    for (let i = 0; i < granted.length; i++) if (granted[i] === name) return true;
    return false;
  };
  const ctx = {
    config: deepFreeze(setup.config),
    log: freeze({ debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') }),
    remainingMs: () => {
      const left = deadline - now();
      return left > 0 ? left : 0;
    },
  };
  if (has('kv')) {
    ctx.kv = freeze({
      get: (key) => rpc('kv.get', [key]),
      set: (key, value, options) => rpc('kv.set', [key, value, opt(options)]),
      delete: (key) => rpc('kv.delete', [key]),
    });
  }
  if (has('dns')) ctx.dns = freeze({ resolve: (name, type) => rpc('dns.resolve', [name, type]) });
  if (has('fetch')) ctx.fetch = (url, init) => rpc('fetch', [url, opt(init)]);
  freeze(ctx);

  return freeze({
    ctx,
    begin: (budgetMs) => {
      deadline = now() + budgetMs;
      // Calls of an earlier event are forgotten (their replies are never delivered).
      if (inFlight !== 0) {
        pending = create(null);
        inFlight = 0;
      }
    },
    // reply: 'O' + JSON of the value ('O' alone: undefined), or 'E' + the error message.
    settle: (id, reply) => {
      const p = pending[id];
      if (p === undefined) return;
      delete pending[id];
      inFlight--;
      const tag = apply(charAt, reply, [0]);
      const rest = apply(slice, reply, [1]);
      if (tag === 'O') {
        let value;
        try {
          value = rest === '' ? undefined : parse(rest);
        } catch (e) {
          p.reject(new Err(p.op + ': the host sent a reply that is not JSON'));
          return;
        }
        p.resolve(value);
      } else {
        p.reject(new Err(rest));
      }
    },
  });
})()`;
