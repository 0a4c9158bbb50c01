/** Code evaluated inside each agent's QuickJS context before the agent's own: the hardening prelude (the call runner is runner-source.ts). */

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
