/**
 * One receive event through the sandbox host: chains of 0, 1, 5 and 20 trivial agents (one IPC
 * round trip each), against a direct in-process call of the same handler as the baseline, same run.
 * Issue 3's targets: 5-agent chain p50 ≤ 60 µs and p99 ≤ 250 µs; each extra agent ≤ 6 µs.
 * Measured (2 vCPU, Node 20.20.2): direct 1.2 µs; chains of 0/1/5/20 agents 76/84/133/451 µs average,
 * ~15 µs per extra agent since handlers run through one synchronous call into the isolate (it was
 * ~75 µs through the promise path). The IPC round trip itself (~75 µs) keeps the 5-agent target away.
 * Run: node --import tsx bench/dispatch.bench.ts
 */
import { bench, do_not_optimize, run, summary } from 'mitata';
import { SandboxHost } from '../runtime/sandbox/sandbox-host.ts';

const AGENT = `globalThis.agent = { onMailFrom(event) { return event.sender.endsWith('@blocked.test') ? { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'blocked' } : undefined; } };`;
const payload = { session: { id: 's1', client: { address: '192.0.2.1', port: 40000 } }, sender: 'a@example.com', params: { smtputf8: false } };

const host = new SandboxHost();
await host.start();
const ids = Array.from({ length: 20 }, (_, i) => `bench/agent-${i}`);
for (const id of ids) {
  const loaded = await host.load({ agentId: id, code: AGENT, memoryMiB: 32 });
  if (!loaded.ok) throw new Error(`load ${id}: ${loaded.error}`);
}
const chain = (n: number) => ids.slice(0, n).map((agentId) => ({ agentId, budgetMs: 100 }));

// The baseline: the same handler, called in this process with no isolation at all.
const direct = new Function(`${AGENT.replace('globalThis.agent', 'const agent')}; return agent;`)() as { onMailFrom(e: unknown): unknown };

summary(() => {
  bench('baseline: direct in-process call', () => do_not_optimize(direct.onMailFrom(JSON.parse(JSON.stringify(payload)))));
  for (const n of [0, 1, 5, 20]) {
    const links = chain(n);
    bench(`sandbox host: chain of ${n} agent${n === 1 ? '' : 's'}`, async () => do_not_optimize(await host.runChain('onMailFrom', payload, links)));
  }
});

await run();
await host.close();
