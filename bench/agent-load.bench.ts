/**
 * Agent cold load and idle memory, through the real path: verify a signed ~100 KB bundle
 * (openBundle: Ed25519 + SHA-256 + strict manifest), then compile and instantiate it in the sandbox
 * host (one isolate, hardened context, ctx prelude). Issue 3's targets: cold load ≤ 10 ms,
 * ≤ 2 MiB RSS per idle agent (the host's resident set with N agents over the empty host, / N).
 * Run: node --import tsx bench/agent-load.bench.ts [--agents 50] [--loads 30]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createSignedBundle } from '../sdk/bundle/build-bundle.ts';
import { generateKeyPair } from '../sdk/bundle/signing.ts';
import { openBundle } from '../sdk/bundle/verify-bundle.ts';
import { SandboxHost } from '../runtime/sandbox/sandbox-host.ts';

const { values } = parseArgs({ options: { agents: { type: 'string', default: '50' }, loads: { type: 'string', default: '30' } } });
const AGENTS = Number(values.agents);
const LOADS = Number(values.loads);

/** ~100 KB of plausible agent code: a big lookup table and a handler using it. */
function bigAgentCode(): Uint8Array {
  const entries = Array.from({ length: 3450 }, (_, i) => `"blocked-${i}.example": ${i}`).join(',\n');
  const source = `const TABLE = {\n${entries}\n};\nglobalThis.agent = { onRcptTo(e) { const d = e.recipient.split('@')[1]; return d in TABLE ? { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'blocked' } : undefined; } };\n`;
  return new TextEncoder().encode(source);
}

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!match) throw new Error('no VmRSS');
  return Number(match[1]);
}

const key = generateKeyPair();
const code = bigAgentCode();
const manifest = { name: 'bench/big', version: '1.0.0', kind: 'receive', events: ['onRcptTo'], budgets: { onRcptTo: 50 }, memoryMiB: 16, capabilities: ['log'], sdk: '^0.1.0' };
const bundle = createSignedBundle({ manifest: manifest as never, code, privateKey: key.privateKey });
const trust = { keyFor: (id: string) => (id === key.keyId ? { publicKey: key.publicKey, vendors: ['bench'], revoked: false } : undefined) };

const host = new SandboxHost({ onLog: () => {} });
await host.start();
const pid = host.pid as number;
await host.ping();
const emptyRss = rssKiB(pid);

// Cold load: verify + decode + compile + instantiate, each a fresh agent id.
const loadMs: number[] = [];
const verifyMs: number[] = [];
for (let i = 0; i < LOADS; i++) {
  const t0 = performance.now();
  const opened = openBundle(bundle, trust);
  if (!opened.ok) throw new Error(opened.error.message);
  const t1 = performance.now();
  const loaded = await host.load({ agentId: `bench/cold-${i}`, code: new TextDecoder().decode(opened.code), memoryMiB: 16 });
  if (!loaded.ok) throw new Error(loaded.error);
  loadMs.push(performance.now() - t0);
  verifyMs.push(t1 - t0);
  await host.unload(`bench/cold-${i}`);
}

// Idle memory: N small agents loaded and called once, then left idle.
const small = `globalThis.agent = { onRcptTo(e) { return e.recipient.startsWith('x') ? { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'x' } : undefined; } };`;
for (let i = 0; i < AGENTS; i++) {
  const loaded = await host.load({ agentId: `bench/idle-${i}`, code: small, memoryMiB: 16 });
  if (!loaded.ok) throw new Error(loaded.error);
}
await host.runChain('onRcptTo', { recipient: 'a@b' }, Array.from({ length: AGENTS }, (_, i) => ({ agentId: `bench/idle-${i}`, budgetMs: 100 })));
await new Promise((r) => setTimeout(r, 500));
const fullRss = rssKiB(pid);
await host.close();

const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
const median = (a: number[]) => sorted(a)[Math.floor(a.length / 2)] as number;
console.log(`agent-load: node ${process.version}, bundle ${bundle.byteLength} bytes (code ${code.byteLength})`);
console.log(`cold load (verify + compile + instantiate): median ${median(loadMs).toFixed(2)} ms, max ${Math.max(...loadMs).toFixed(2)} ms over ${LOADS} (verify alone ${median(verifyMs).toFixed(2)} ms) — target <= 10 ms`);
console.log(`idle RSS: host ${Math.round(emptyRss / 1024)} MiB empty, ${Math.round(fullRss / 1024)} MiB with ${AGENTS} agents → ${((fullRss - emptyRss) / 1024 / AGENTS).toFixed(2)} MiB per agent — target <= 2 MiB`);
