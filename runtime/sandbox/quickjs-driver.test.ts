// The QuickJS-ng WebAssembly driver beyond the shared conformance suite: ctx and capabilities, rebuilds, the fixed memory, input errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AgentLoadSpec, ChainResult } from './protocol.ts';
import { QuickJsDriver, type QuickJsDriverOptions } from './quickjs-driver.ts';
import { ENGINE_OVERHEAD_MIB, memoryPages } from './quickjs-wasm.ts';

type LogLine = { agentId: string; level: string; message: string; fields: Record<string, unknown> | undefined };

/** An agent whose `onMailFrom(event, ctx)` runs `body`; `say(value)` rejects with String(value) so the test can read it. */
function agentCode(body: string, isAsync = false): string {
  return `
    const say = (value) => ({ verdict: 'reject', code: 550, enhanced: '5.7.1', text: String(value) });
    globalThis.agent = { ${isAsync ? 'async ' : ''}onMailFrom(event, ctx) { ${body} } };`;
}

async function withDriver(run: (driver: QuickJsDriver, logs: LogLine[]) => Promise<void>, options: QuickJsDriverOptions = {}): Promise<void> {
  const logs: LogLine[] = [];
  const driver = new QuickJsDriver({ onAgentLog: (agentId, level, message, fields) => logs.push({ agentId, level, message, fields }), ...options });
  await driver.start();
  try {
    await run(driver, logs);
  } finally {
    await driver.close();
  }
}

async function load(driver: QuickJsDriver, agentId: string, code: string, extra: Partial<AgentLoadSpec> = {}): Promise<void> {
  assert.deepEqual(await driver.load({ agentId, code, memoryMiB: 32, ...extra }), { ok: true }, `loading ${agentId}`);
}

async function once(driver: QuickJsDriver, agentId: string, budgetMs = 1000, payload: unknown = { from: 'a@example.org' }): Promise<ChainResult> {
  return driver.runChain('onMailFrom', payload, [{ agentId, budgetMs }]);
}

/** The text the agent said (its reject), failing the test when the step did not succeed. */
async function said(driver: QuickJsDriver, agentId: string, budgetMs = 1000): Promise<string> {
  const result = await once(driver, agentId, budgetMs);
  assert.equal(result.steps[0]?.outcome, 'ok', `step failed: ${result.steps[0]?.error ?? ''}`);
  assert.equal(result.verdict.verdict, 'reject');
  return result.verdict.verdict === 'reject' ? result.verdict.text : '';
}

test('ctx carries a deep-frozen config and ctx.log lines reach onAgentLog with the agent id', async () => {
  await withDriver(async (driver, logs) => {
    const body = `
      ctx.log.info('checking ' + event.from, { hosts: ctx.config.hosts.length });
      let assigned = 'assigned';
      try { ctx.config.hosts.push('x'); } catch (e) { assigned = e.name; }
      return say([ctx.config.hosts.join('+'), assigned, Object.isFrozen(ctx), typeof ctx.remainingMs()].join(' '));`;
    await load(driver, 'configured', agentCode(body), { config: { hosts: ['a.example', 'b.example'] } });
    assert.equal(await said(driver, 'configured'), 'a.example+b.example TypeError true number');
    assert.deepEqual(logs, [{ agentId: 'configured', level: 'info', message: 'checking a@example.org', fields: { hosts: 2 } }]);
  });
});

test("log lines over the agent's rate are dropped, and the next accepted line says how many", async () => {
  await withDriver(
    async (driver, logs) => {
      await load(driver, 'chatty', agentCode("for (let i = 0; i < 10; i++) ctx.log.debug('line ' + i); return;"));
      await once(driver, 'chatty');
      assert.deepEqual(logs.map((l) => l.message), ['line 0', 'line 1', 'line 2']);
      await new Promise((resolve) => setTimeout(resolve, 150)); // at 20 lines/s: at least one token back
      logs.length = 0;
      await once(driver, 'chatty');
      assert.equal(logs[0]?.level, 'warn');
      assert.match(logs[0]?.message ?? '', /^dropped 7 log lines/);
      assert.equal(logs[1]?.message, 'line 0');
    },
    { logRate: { burst: 3, perSecond: 20 } },
  );
});

test('a log message whose toString loops forever times out within the budget', async () => {
  await withDriver(async (driver) => {
    await load(driver, 'stringy', agentCode('ctx.log.info({ toString() { for (;;) {} } }); return;'));
    const result = await once(driver, 'stringy', 150);
    assert.equal(result.steps[0]?.outcome, 'timeout');
    assert.equal(result.verdict.verdict, 'tempfail');
  });
});

test('state lives on between calls, and a timeout rebuilds the agent from its code', async () => {
  await withDriver(async (driver) => {
    const code = `
      let calls = 0;
      globalThis.agent = {
        onMailFrom() { calls++; return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'call ' + calls }; },
        onRcptTo() { for (;;) {} },
      };`;
    await load(driver, 'counter', code);
    assert.equal(await said(driver, 'counter'), 'call 1');
    assert.equal(await said(driver, 'counter'), 'call 2');
    const stuck = await driver.runChain('onRcptTo', {}, [{ agentId: 'counter', budgetMs: 100 }]);
    assert.equal(stuck.steps[0]?.outcome, 'timeout');
    assert.equal(await said(driver, 'counter'), 'call 1', 'a fresh instance, built from the same code');
  });
});

test('an agent that ran out of memory is rebuilt and serves the next event', async () => {
  await withDriver(async (driver) => {
    const code = `
      let calls = 0;
      globalThis.agent = {
        onMailFrom() { calls++; return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'call ' + calls }; },
        onRcptTo() { const a = []; for (;;) a.push(new Array(1e5).fill(1.5)); },
      };`;
    await load(driver, 'hungry', code, { memoryMiB: 16 });
    assert.equal(await said(driver, 'hungry'), 'call 1');
    const full = await driver.runChain('onRcptTo', {}, [{ agentId: 'hungry', budgetMs: 3000 }]);
    assert.equal(full.steps[0]?.outcome, 'error');
    assert.match(full.steps[0]?.error ?? '', /out of memory/);
    assert.equal(await said(driver, 'hungry'), 'call 1', 'rebuilt after the out-of-memory');
  });
});

test("an agent's memory cannot grow past its fixed WebAssembly memory, even when it catches the failure", async () => {
  await withDriver(async (driver) => {
    // Holds 1 MiB strings until an allocation fails, catches that, and reports how much it got.
    const body = `
      const held = [];
      try { for (let i = 0; i < 10000; i++) held.push('x'.repeat(1024 * 1024 - 16) + i); } catch (e) { return say(held.length + ' ' + e.message); }
      return say(held.length + ' never failed');`;
    await load(driver, 'hoarder', agentCode(body), { memoryMiB: 24 });
    const [count, ...why] = (await said(driver, 'hoarder', 5000)).split(' ');
    assert.equal(why.join(' '), 'out of memory');
    assert.ok(Number(count) > 4 && Number(count) <= 24 + ENGINE_OVERHEAD_MIB, `held ${count} MiB with a 24 MiB limit`);
  });
});

test('the WebAssembly memory is the agent limit plus the engine overhead, within the module minimum and the 2 GiB ceiling', () => {
  const MIB_PAGES = 16; // 64 KiB pages
  assert.deepEqual(memoryPages(32), { initial: 16 * MIB_PAGES, maximum: (32 + ENGINE_OVERHEAD_MIB) * MIB_PAGES });
  assert.deepEqual(memoryPages(8), { initial: 16 * MIB_PAGES, maximum: 16 * MIB_PAGES });
  assert.equal(memoryPages(4096).maximum, 2048 * MIB_PAGES);
});

test('a result nested too deeply to serialize is an error, and the agent keeps serving', async () => {
  await withDriver(async (driver) => {
    const code = `globalThis.agent = {
      onMailFrom() { return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'fine' }; },
      onRcptTo() { let o = {}; for (let i = 0; i < 200000; i++) o = { o }; return { verdict: 'continue', o }; },
    };`;
    await load(driver, 'nested', code);
    const deep = await driver.runChain('onRcptTo', {}, [{ agentId: 'nested', budgetMs: 3000 }]);
    assert.equal(deep.steps[0]?.outcome, 'error', deep.steps[0]?.error);
    assert.match(deep.steps[0]?.error ?? '', /stack|recursion/i);
    assert.equal(await said(driver, 'nested'), 'fine');
  });
});

test('concurrent chains through one async agent are served one at a time, each with its own payload', async () => {
  await withDriver(async (driver) => {
    await load(driver, 'slow', agentCode('await null; await null; return say(event.from);', true));
    const froms = ['a@x.test', 'b@x.test', 'c@x.test', 'd@x.test'];
    const results = await Promise.all(froms.map((from) => once(driver, 'slow', 1000, { from })));
    assert.deepEqual(
      results.map((r) => (r.verdict.verdict === 'reject' ? r.verdict.text : r.steps[0]?.error)),
      froms,
    );
  });
});

test('ctx.kv answers through the bridge and persists across a reload', async () => {
  const kvDir = await mkdtemp(path.join(tmpdir(), 'sluice-quickjs-kv-'));
  try {
    await withDriver(async (driver) => {
      const grants = { capabilities: ['kv' as const], fetchOrigins: [], kvDir };
      const body = `
        const before = await ctx.kv.get('seen');
        await ctx.kv.set('seen', event.from);
        return say(String(before) + ' ' + typeof ctx.dns + ' ' + typeof ctx.fetch);`;
      await load(driver, 'remembers', agentCode(body, true), { grants });
      assert.equal(await said(driver, 'remembers'), 'null undefined undefined');
      await driver.unload('remembers');
      await load(driver, 'remembers', agentCode(body, true), { grants });
      assert.equal(await said(driver, 'remembers'), 'a@example.org undefined undefined');
    });
  } finally {
    await rm(kvDir, { recursive: true, force: true });
  }
});

test('ctx.fetch reaches a granted loopback origin, and is refused elsewhere with the origin named', async () => {
  const server = http.createServer((req, res) => res.end(`hello ${req.url ?? ''}`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await withDriver(async (driver) => {
      const body = `
        const res = await ctx.fetch(${JSON.stringify(origin)} + '/probe');
        let refused = '';
        try { await ctx.fetch('http://127.0.0.2:9/'); } catch (e) { refused = e.message; }
        return say(res.status + ' ' + res.text + ' | ' + refused);`;
      await load(driver, 'fetcher', agentCode(body, true), { grants: { capabilities: ['fetch'], fetchOrigins: [origin] } });
      assert.equal(await said(driver, 'fetcher', 3000), '200 hello /probe | fetch: origin http://127.0.0.2:9 is not granted');
    });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a continuation that loops after a capability reply times out, and the agent serves the next event', async () => {
  const kvDir = await mkdtemp(path.join(tmpdir(), 'sluice-quickjs-kv-'));
  try {
    await withDriver(async (driver) => {
      const code = `globalThis.agent = {
        async onMailFrom(event, ctx) { await ctx.kv.get('k'); return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'answered' }; },
        async onRcptTo(event, ctx) { await ctx.kv.get('k'); for (;;) {} },
      };`;
      await load(driver, 'spinner', code, { grants: { capabilities: ['kv'], fetchOrigins: [], kvDir } });
      const spun = await driver.runChain('onRcptTo', {}, [{ agentId: 'spinner', budgetMs: 200 }]);
      assert.equal(spun.steps[0]?.outcome, 'timeout');
      assert.ok((spun.steps[0]?.ms ?? 0) >= 180, `timed out after ${spun.steps[0]?.ms} ms`);
      assert.equal(await said(driver, 'spinner'), 'answered');
    });
  } finally {
    await rm(kvDir, { recursive: true, force: true });
  }
});

test('bad load specs and bad chains are refused with the field named', async () => {
  await withDriver(async (driver) => {
    const small = await driver.load({ agentId: 'tiny', code: agentCode('return;'), memoryMiB: 2 });
    assert.equal(small.ok, false);
    assert.match(small.ok ? '' : small.error, /memoryMiB/);
    const kv = await driver.load({ agentId: 'nokvdir', code: agentCode('return;'), memoryMiB: 32, grants: { capabilities: ['kv'], fetchOrigins: [] } });
    assert.equal(kv.ok, false);
    assert.match(kv.ok ? '' : kv.error, /grants\.kvDir/);
    await assert.rejects(driver.runChain('mailFrom', {}, []), /event/);
    await assert.rejects(driver.runChain('onMailFrom', {}, [{ agentId: 'x', budgetMs: 0 }]), /chain\.0\.budgetMs/);
    assert.throws(() => new QuickJsDriver({ logRate: { burst: 0, perSecond: 1 } }), /logRate\.burst/);
  });
});

test('an agent that is not loaded is an error step attributed to it', async () => {
  await withDriver(async (driver) => {
    const result = await once(driver, 'ghost');
    assert.deepEqual(result.steps.map((s) => [s.agentId, s.outcome, s.error]), [['ghost', 'error', 'agent not loaded']]);
    assert.equal(result.verdict.verdict, 'tempfail');
  });
});
