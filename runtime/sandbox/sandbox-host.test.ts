// Supervisor behaviour specific to the host-process driver: wedged and killed hosts, restarts, reloads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SandboxHost } from './sandbox-host.ts';
import { agentCode } from './conformance-agents.ts';

const GOOD = agentCode("return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'no ' + event.from };");

function started(marginMs: number): Promise<SandboxHost> {
  const host = new SandboxHost({ marginMs, onLog: () => {} });
  return host.start().then(() => host);
}

test('a wedged host is killed at the chain deadline, the call fails closed, and the next call is served', async () => {
  const host = await started(300);
  try {
    assert.deepEqual(await host.load({ agentId: 'good', code: GOOD, memoryMiB: 32 }), { ok: true });
    const pid = host.pid;
    assert.ok(pid !== undefined);
    process.kill(pid, 'SIGSTOP');
    const t0 = performance.now();
    const wedged = await host.runChain('onMailFrom', { from: 'a' }, [{ agentId: 'good', budgetMs: 100 }]);
    assert.ok(performance.now() - t0 < 100 + 100 + 300 + 1500, 'returned near budget + margin');
    assert.equal(wedged.verdict.verdict, 'tempfail');
    const next = await host.runChain('onMailFrom', { from: 'b' }, [{ agentId: 'good', budgetMs: 500 }]);
    assert.equal(next.verdict.verdict === 'reject' && next.verdict.text, 'no b', 'the agent was reloaded into the new host');
    assert.notEqual(host.pid, pid);
  } finally {
    await host.close();
  }
});

test('a host killed mid-call fails that call as the running agent and is restarted with its agents', async () => {
  const host = await started(2000);
  try {
    assert.deepEqual(await host.load({ agentId: 'slow', code: agentCode('for (;;) {}'), memoryMiB: 32 }), { ok: true });
    assert.deepEqual(await host.load({ agentId: 'first', code: agentCode("return { verdict: 'continue' };"), memoryMiB: 32 }), { ok: true });
    const pid = host.pid as number;
    const call = host.runChain('onMailFrom', { from: 'a' }, [{ agentId: 'first', budgetMs: 200 }, { agentId: 'slow', budgetMs: 5000 }]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(pid, 'SIGKILL');
    const result = await call;
    assert.deepEqual(result.steps.map((s) => [s.agentId, s.outcome]), [['first', 'ok'], ['slow', 'crash']], 'the black box named the running agent');
    assert.ok((result.steps[1]?.ms ?? 0) >= 250, 'the crashed step is timed from its black box');
    assert.equal(result.decidedBy, 'slow');
    assert.match(result.steps[1]?.error ?? '', /SIGKILL/);
    assert.equal(await host.ping(), true);
    const again = await host.runChain('onMailFrom', {}, [{ agentId: 'first', budgetMs: 200 }]);
    assert.deepEqual(again.steps.map((s) => s.outcome), ['ok'], 'agents loaded before the crash were reloaded');
  } finally {
    await host.close();
  }
});

test('calls queued behind a crash are served by the restarted host, not failed', async () => {
  const host = await started(2000);
  try {
    assert.deepEqual(await host.load({ agentId: 'bomb', code: agentCode("const o = {}; for (let i = 0; i < 1e6; i++) o['k' + i] = i; return o;"), memoryMiB: 8 }), { ok: true });
    assert.deepEqual(await host.load({ agentId: 'good', code: GOOD, memoryMiB: 32 }), { ok: true });
    const [crashed, served] = await Promise.all([
      host.runChain('onMailFrom', {}, [{ agentId: 'bomb', budgetMs: 3000 }]),
      host.runChain('onMailFrom', { from: 'q' }, [{ agentId: 'good', budgetMs: 500 }]),
    ]);
    assert.equal(crashed.decidedBy, 'bomb');
    assert.ok(['crash', 'error', 'timeout'].includes(crashed.steps[0]?.outcome ?? ''));
    assert.equal(served.verdict.verdict === 'reject' && served.verdict.text, 'no q');
  } finally {
    await host.close();
  }
});

test('a chain that continues returns the header edits of every agent in chain order; a terminal verdict drops them', async () => {
  const host = await started(2000);
  try {
    const stamp = (name: string, value: string) =>
      agentCode(`return { verdict: 'continue', headers: [{ op: 'add', name: '${name}', value: '${value}' }] };`);
    assert.deepEqual(await host.load({ agentId: 'first', code: stamp('X-First', '1'), memoryMiB: 16 }), { ok: true });
    assert.deepEqual(await host.load({ agentId: 'second', code: stamp('X-Second', '2'), memoryMiB: 16 }), { ok: true });
    assert.deepEqual(await host.load({ agentId: 'judge', code: GOOD, memoryMiB: 16 }), { ok: true });
    const merged = await host.runChain('onMailFrom', { from: 'a' }, [
      { agentId: 'second', budgetMs: 200 },
      { agentId: 'first', budgetMs: 200 },
    ]);
    assert.deepEqual(merged.verdict, { verdict: 'continue' });
    assert.deepEqual(merged.headers, [
      { op: 'add', name: 'X-Second', value: '2' },
      { op: 'add', name: 'X-First', value: '1' },
    ]);
    const judged = await host.runChain('onMailFrom', { from: 'b' }, [
      { agentId: 'first', budgetMs: 200 },
      { agentId: 'judge', budgetMs: 200 },
    ]);
    assert.equal(judged.verdict.verdict, 'reject');
    assert.equal(judged.decidedBy, 'judge');
    assert.equal(judged.headers, undefined);
  } finally {
    await host.close();
  }
});
