/**
 * One receive event through a chain of trivial agents in the portable QuickJS-ng WebAssembly driver
 * (in-process), against the isolated-vm host process driver and a direct in-process call, same run.
 * Chains of 0, 1, 5 and 20 agents, so the per-agent cost and the fixed cost can be read apart.
 * Run: node --import tsx bench/dispatch-quickjs.bench.ts [--driver quickjs|isolated-vm|both]
 *      (Bun: node_modules/.bin/bun bench/dispatch-quickjs.bench.ts --driver quickjs; Deno: deno run -A …)
 */
import { bench, do_not_optimize, run, summary } from 'mitata';
import type { SandboxDriver } from '../runtime/sandbox/protocol.ts';
import { QuickJsDriver } from '../runtime/sandbox/quickjs-driver.ts';
import { SandboxHost } from '../runtime/sandbox/sandbox-host.ts';

const AGENT = `globalThis.agent = { onMailFrom(event) { return event.sender.endsWith('@blocked.test') ? { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'blocked' } : undefined; } };`;
const payload = { session: { id: 's1', client: { address: '192.0.2.1', port: 40000 } }, sender: 'a@example.com', params: { smtputf8: false } };

const argv = process.argv.slice(2);
const at = argv.indexOf('--driver');
const which = at >= 0 ? argv[at + 1] : 'both';
if (which !== 'quickjs' && which !== 'isolated-vm' && which !== 'both') throw new Error(`--driver must be quickjs, isolated-vm or both, got ${String(which)}`);

const ids = Array.from({ length: 20 }, (_, i) => `bench/agent-${i}`);
const chain = (n: number) => ids.slice(0, n).map((agentId) => ({ agentId, budgetMs: 100 }));

async function ready(driver: SandboxDriver): Promise<SandboxDriver> {
  await driver.start();
  for (const id of ids) {
    const loaded = await driver.load({ agentId: id, code: AGENT, memoryMiB: 32 });
    if (!loaded.ok) throw new Error(`load ${id}: ${loaded.error}`);
  }
  return driver;
}

const drivers: [string, SandboxDriver][] = [];
if (which !== 'isolated-vm') drivers.push(['quickjs-wasm', await ready(new QuickJsDriver())]);
if (which !== 'quickjs') drivers.push(['isolated-vm host', await ready(new SandboxHost())]);

// The baseline: the same handler, called in this process with no isolation at all.
const direct = new Function(`${AGENT.replace('globalThis.agent', 'const agent')}; return agent;`)() as { onMailFrom(e: unknown): unknown };

summary(() => {
  bench('baseline: direct in-process call', () => do_not_optimize(direct.onMailFrom(JSON.parse(JSON.stringify(payload)))));
  for (const [name, driver] of drivers) {
    for (const n of [0, 1, 5, 20]) {
      const links = chain(n);
      bench(`${name}: chain of ${n} agent${n === 1 ? '' : 's'}`, async () => do_not_optimize(await driver.runChain('onMailFrom', payload, links)));
    }
  }
});

await run();
for (const [, driver] of drivers) await driver.close();
