/** Hostile agents for the sandbox driver conformance suite, as data: code, limits and the outcomes a driver may report. */
import type { Step } from './protocol.ts';

export type HostileCase = {
  title: string;
  /** Body of the agent's `onMailFrom(event)` handler. */
  body: string;
  async?: boolean;
  memoryMiB?: number;
  budgetMs?: number;
  /** Outcomes a conforming driver may record for the agent. */
  outcomes: Step['outcome'][];
  /** The step's error, when one is expected, must match. */
  error?: RegExp;
  /** For `ok` outcomes: the reply text the agent's reject must carry. */
  text?: RegExp;
};

/** Wraps a handler body as agent code (the code contract: assign `globalThis.agent`). */
export function agentCode(body: string, isAsync = false): string {
  return `globalThis.agent = { ${isAsync ? 'async ' : ''}onMailFrom(event) { ${body} } };`;
}

/** Rejects with a text, so that an `ok` step can report what the agent saw. */
const say = (expr: string): string => `return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: String(${expr}) };`;

const GLOBALS = ['require', 'process', 'fetch', 'Deno', 'Bun', 'SharedArrayBuffer', 'Atomics', 'WebAssembly', 'setTimeout', 'module'];
const WASM_LOOP = '[0,97,115,109,1,0,0,0,1,4,1,96,0,0,3,2,1,0,7,5,1,1,102,0,0,10,9,1,7,0,3,64,12,0,11,11]';
const RANGE = 'the host may abort: crash, or V8 contains it';

export const HOSTILE_CASES: HostileCase[] = [
  { title: 'an infinite loop times out', body: 'for (;;) {}', outcomes: ['timeout'] },
  { title: 'a microtask flood times out', body: '(function f() { Promise.resolve().then(f); })(); return { verdict: "continue" };', async: true, outcomes: ['timeout'] },
  { title: 'an infinite loop after an await times out', body: 'await null; for (;;) {}', async: true, outcomes: ['timeout'] },
  { title: 'Atomics.wait is unavailable', body: 'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5000);', outcomes: ['error', 'timeout'], error: /is not defined/ },
  { title: 'a WebAssembly loop cannot be built', body: `new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(${WASM_LOOP}))).exports.f();`, outcomes: ['error'], error: /WebAssembly is not defined/ },
  { title: 'shared WebAssembly memory is unreachable', body: 'return new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer;', outcomes: ['error'], error: /WebAssembly is not defined/ },
  { title: 'ReDoS times out', body: "/^(a+)+$/.test('a'.repeat(40) + '!');", outcomes: ['timeout'] },
  { title: 'deep recursion is a RangeError', body: 'const r = (n) => r(n + 1) + 1; r(0);', outcomes: ['error'], error: /Maximum call stack/ },
  { title: 'a heap growth loop is stopped at the memory limit', body: 'const a = []; for (;;) a.push(new Array(1e5).fill(1.5));', memoryMiB: 32, budgetMs: 3000, outcomes: ['error', 'crash', 'timeout'] },
  { title: `new Array(1e8).fill(0) at 128 MiB (${RANGE})`, body: 'return { n: new Array(1e8).fill(0).length };', memoryMiB: 128, budgetMs: 3000, outcomes: ['crash', 'error', 'timeout'] },
  { title: `a million-key object at 8 MiB (${RANGE})`, body: "const o = {}; for (let i = 0; i < 1e6; i++) o['k' + i] = i; return o;", memoryMiB: 8, budgetMs: 3000, outcomes: ['crash', 'error', 'timeout'] },
  { title: `a 100 MB ArrayBuffer copied into an Array at 512 MiB (${RANGE})`, body: 'return { n: Array.from(new Uint8Array(100 * 1024 * 1024)).length };', memoryMiB: 512, budgetMs: 3000, outcomes: ['crash', 'error', 'timeout'] },
  { title: 'a 150 MiB string return is a bad result', body: "return 'x'.repeat(150 * 1024 * 1024);", memoryMiB: 512, budgetMs: 2000, outcomes: ['bad-result'] },
  { title: 'a 100 KB reply text over the 64 KiB cap is a bad result', body: "return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'x'.repeat(100 * 1024) };", outcomes: ['bad-result'], error: /exceeds the cap/ },
  { title: 'a 150 MiB string inside the result is a bad result', body: "return { verdict: 'continue', junk: 'x'.repeat(150 * 1024 * 1024) };", memoryMiB: 1024, budgetMs: 3000, outcomes: ['bad-result', 'error', 'timeout'] },
  { title: 'a getter that loops forever in the result times out', body: "return { verdict: 'continue', get x() { for (;;) {} } };", outcomes: ['timeout'] },
  { title: 'a toJSON that loops forever times out', body: "return { verdict: 'continue', toJSON() { for (;;) {} } };", outcomes: ['timeout'] },
  { title: 'a Proxy result whose traps throw is an error', body: "return new Proxy({}, { get() { throw new Error('trap'); }, ownKeys() { throw new Error('trap'); } });", outcomes: ['error'], error: /trap/ },
  { title: 'an empty Proxy result is a bad result', body: 'return new Proxy({}, {});', outcomes: ['bad-result'] },
  { title: 'a Proxy result whose trap loops forever times out', body: 'return new Proxy({}, { ownKeys() { for (;;) {} } });', outcomes: ['timeout'] },
  { title: "this.constructor.constructor('return process')() reaches no host", body: `let r; try { r = 'got ' + typeof this.constructor.constructor('return process')(); } catch (e) { r = 'threw ' + e.name; } ${say('r')}`, outcomes: ['ok'], text: /^(got undefined|threw ReferenceError)$/ },
  { title: "({}).constructor.constructor('return typeof process')() is undefined", body: say("({}).constructor.constructor('return typeof process')()"), outcomes: ['ok'], text: /^undefined$/ },
  { title: 'stack frames from Error.prepareStackTrace expose no host object', body: `Error.prepareStackTrace = (e, frames) => frames; const frames = new Error().stack; ${say("frames.filter((f) => { const t = f.getThis(); return t && typeof t.process !== 'undefined'; }).length + ' host frames'")}`, outcomes: ['ok'], text: /^0 host frames$/ },
  { title: 'host and shared-memory globals are undefined inside', body: say(`${JSON.stringify(GLOBALS)}.map((n) => typeof globalThis[n]).join(',')`), outcomes: ['ok'], text: new RegExp(`^${GLOBALS.map(() => 'undefined').join(',')}$`) },
  { title: 'a promise that never settles times out near the budget', body: 'return new Promise(() => {});', budgetMs: 300, outcomes: ['timeout'] },
  { title: 'a thenable that never calls back times out', body: 'return { then() {} };', async: true, budgetMs: 300, outcomes: ['timeout'] },
  { title: 'throw 42 is an error with a string message', body: 'throw 42;', outcomes: ['error'], error: /42/ },
  { title: 'throw null is an error with a string message', body: 'throw null;', outcomes: ['error'], error: /null/ },
  { title: 'throw {} is an error with a string message', body: 'throw {};', outcomes: ['error'], error: /object/ },
  { title: 'a reject with a 2xx code is a bad result', body: "return { verdict: 'reject', code: 250, enhanced: '5.0.0', text: 'ok' };", outcomes: ['bad-result'], error: /5xx/ },
  { title: 'a tempfail with a 5xx code is a bad result', body: "return { verdict: 'tempfail', code: 550, enhanced: '4.0.0', text: 'later' };", outcomes: ['bad-result'] },
  { title: 'a null result is a bad result', body: 'return null;', outcomes: ['bad-result'] },
  { title: "a 'yes' result is a bad result", body: "return 'yes';", outcomes: ['bad-result'] },
  { title: 'an unknown verdict is a bad result', body: "return { verdict: 'nope' };", outcomes: ['bad-result'] },
  { title: 'a cyclic result is an error', body: "const o = { verdict: 'continue' }; o.self = o; return o;", outcomes: ['error'], error: /circular/i },
];
