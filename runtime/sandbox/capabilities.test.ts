// Agent capabilities (ctx) end to end: real sandbox host processes, real files, sockets and a UDP DNS server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AgentCapabilities } from './capabilities.ts';
import { startDnsTestServer } from '../testing/dns-test-server.ts';
import type { AgentGrants, AgentLoadSpec, ChainResult } from './protocol.ts';
import { SandboxHost } from './sandbox-host.ts';

type LogLine = { agentId: string; level: string; message: string; fields: Record<string, unknown> | undefined };

/** An agent whose onMailFrom(event, ctx) runs `body`; `report(value)` hands a JSON value back to the test. */
function agentCode(body: string): string {
  return `
    const report = (value) => ({ verdict: 'continue', headers: [{ op: 'add', name: 'X-Report', value: encodeURIComponent(JSON.stringify(value)) }] });
    globalThis.agent = { async onMailFrom(event, ctx) { ${body} } };`;
}

async function startHost(logs: LogLine[] = []): Promise<SandboxHost> {
  const host = new SandboxHost({ onLog: () => {}, onAgentLog: (agentId, level, message, fields) => logs.push({ agentId, level, message, fields }) });
  await host.start();
  return host;
}

async function load(host: SandboxHost, agentId: string, body: string, extra: Partial<AgentLoadSpec> = {}): Promise<void> {
  assert.deepEqual(await host.load({ agentId, code: agentCode(body), memoryMiB: 32, ...extra }), { ok: true }, `loading ${agentId}`);
}

/** Runs the agent once; its report (or the step's failure) comes back. */
async function run(host: SandboxHost, agentId: string, budgetMs = 2000, payload: unknown = {}): Promise<{ result: ChainResult; report: unknown }> {
  const result = await host.runChain('onMailFrom', payload, [{ agentId, budgetMs }]);
  const step = result.steps[0];
  assert.ok(step, 'a step was recorded');
  const header = result.headers?.[0];
  const report = header !== undefined && header.op !== 'remove' ? JSON.parse(decodeURIComponent(header.value)) : undefined;
  return { result, report };
}

async function reportOf(host: SandboxHost, agentId: string, budgetMs = 2000): Promise<unknown> {
  const { result, report } = await run(host, agentId, budgetMs);
  assert.equal(result.steps[0]?.outcome, 'ok', `step failed: ${result.steps[0]?.error ?? ''}`);
  return report;
}

function grants(capabilities: AgentGrants['capabilities'], more: Partial<AgentGrants> = {}): AgentGrants {
  return { capabilities, fetchOrigins: [], ...more };
}

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'sluice-caps-'));
}

async function serve(handler: http.RequestListener): Promise<{ origin: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    hits,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

test('ctx.config is a deep-frozen copy of the load spec config; ctx itself is frozen', async () => {
  const host = await startHost();
  try {
    await load(host, 'configured', `
      'use strict';
      const attempts = [];
      try { ctx.config.limits.max = 99; attempts.push('assigned'); } catch (e) { attempts.push(e.name); }
      try { ctx.config.hosts.push('evil'); attempts.push('pushed'); } catch (e) { attempts.push(e.name); }
      try { ctx.config = {}; attempts.push('replaced'); } catch (e) { attempts.push(e.name); }
      return report({ config: ctx.config, frozen: [Object.isFrozen(ctx.config), Object.isFrozen(ctx.config.limits), Object.isFrozen(ctx.config.hosts), Object.isFrozen(ctx), Object.isFrozen(ctx.log)], attempts });`,
      { config: { limits: { max: 3 }, hosts: ['a.example', 'b.example'] } });
    assert.deepEqual(await reportOf(host, 'configured'), {
      config: { limits: { max: 3 }, hosts: ['a.example', 'b.example'] },
      frozen: [true, true, true, true, true],
      attempts: ['TypeError', 'TypeError', 'TypeError'],
    });
  } finally {
    await host.close();
  }
});

test('an agent without grants has config, log and remainingMs only; kv, dns and fetch are undefined', async () => {
  const host = await startHost();
  try {
    await load(host, 'plain', `
      const left = ctx.remainingMs();
      return report({ keys: Object.keys(ctx).sort(), kv: typeof ctx.kv, dns: typeof ctx.dns, fetch: typeof ctx.fetch, config: ctx.config === undefined, left, bridge: typeof globalThis.__sluiceBridge });`);
    const report = (await reportOf(host, 'plain', 1500)) as { keys: string[]; left: number };
    assert.deepEqual({ ...report, left: undefined }, { keys: ['config', 'log', 'remainingMs'], kv: 'undefined', dns: 'undefined', fetch: 'undefined', config: true, left: undefined, bridge: 'undefined' });
    assert.ok(report.left > 1000 && report.left <= 1500, `remainingMs() was ${report.left} of a 1500 ms budget`);
  } finally {
    await host.close();
  }
});

test('ctx.remainingMs counts down through an await', async () => {
  const dir = await tempDir();
  const host = await startHost();
  try {
    await load(host, 'clock', `
      const before = ctx.remainingMs();
      const until = Date.now() + 150; while (Date.now() < until) {}
      await ctx.kv.get('k');
      return report({ before, after: ctx.remainingMs() });`, { grants: grants(['kv'], { kvDir: dir }) });
    const { before, after } = (await reportOf(host, 'clock', 1000)) as { before: number; after: number };
    assert.ok(before <= 1000 && before > 800, `before ${before}`);
    assert.ok(after <= before - 150, `after ${after}, before ${before}`);
  } finally {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('ctx.log lines reach onAgentLog with the agent id, level and fields, in order, before the chain answers', async () => {
  const logs: LogLine[] = [];
  const host = await startHost(logs);
  try {
    await load(host, 'vendor/logger', `
      ctx.log.debug('d');
      ctx.log.info('hello ' + event.from, { from: event.from, n: 1 });
      await null;
      ctx.log.warn({ toString() { return 'coerced'; } });
      ctx.log.error('bad fields', 42);
      ctx.log.info('cyclic', (() => { const o = {}; o.o = o; return o; })());
      ctx.log.info('é'.repeat(3000));
      ctx.log.info('huge fields', { blob: 'x'.repeat(20000) });
      return report('done');`);
    const { result } = await run(host, 'vendor/logger', 2000, { from: 'a@example.org' });
    assert.equal(result.steps[0]?.outcome, 'ok');
    assert.deepEqual(logs.slice(0, 5), [
      { agentId: 'vendor/logger', level: 'debug', message: 'd', fields: undefined },
      { agentId: 'vendor/logger', level: 'info', message: 'hello a@example.org', fields: { from: 'a@example.org', n: 1 } },
      { agentId: 'vendor/logger', level: 'warn', message: 'coerced', fields: undefined },
      { agentId: 'vendor/logger', level: 'error', message: 'bad fields', fields: { fields: 42 } },
      { agentId: 'vendor/logger', level: 'info', message: 'cyclic', fields: { fieldsError: 'fields do not serialize to JSON' } },
    ]);
    const long = logs[5]?.message ?? '';
    assert.ok(long.endsWith('…') && new TextEncoder().encode(long).length <= 2048 && long.startsWith('éé'), `a long message is cut to 2 KiB (${long.length} chars)`);
    assert.deepEqual(logs[6]?.fields, { fieldsTruncated: true, fieldsChars: 20011 });
    assert.equal(logs.length, 7);
  } finally {
    await host.close();
  }
});

test('more than 50 log lines in one event are suppressed and reported as one line; the next event starts afresh', async () => {
  const logs: LogLine[] = [];
  const host = await startHost(logs);
  try {
    await load(host, 'chatty', `for (let i = 0; i < 80; i++) ctx.log.info('line ' + i); return report(null);`);
    await reportOf(host, 'chatty');
    assert.equal(logs.length, 51);
    assert.equal(logs[49]?.message, 'line 49');
    assert.deepEqual(logs[50], { agentId: 'chatty', level: 'warn', message: 'suppressed 30 log lines over the limit of 50 per event', fields: { suppressed: 30 } });
    await reportOf(host, 'chatty');
    assert.equal(logs.length, 102);
    assert.equal(logs[51]?.message, 'line 0');
  } finally {
    await host.close();
  }
});

test('kv set, get, delete and TTL persist across host.close() and a new host with the same kvDir', async () => {
  const dir = await tempDir();
  const spec = { grants: grants(['kv'], { kvDir: path.join(dir, 'vendor-agent') }) };
  try {
    const first = await startHost();
    try {
      await load(first, 'writer', `
        await ctx.kv.set('keep', 'kept ✓');
        await ctx.kv.set('gone', 'x');
        await ctx.kv.set('brief', 'y', { ttlMs: 300 });
        await ctx.kv.set('lasting', 'z', { ttlMs: 600000 });
        const deleted = [await ctx.kv.delete('gone'), await ctx.kv.delete('never')];
        return report({ deleted, keep: await ctx.kv.get('keep'), brief: await ctx.kv.get('brief'), missing: await ctx.kv.get('missing') });`, spec);
      assert.deepEqual(await reportOf(first, 'writer'), { deleted: [true, false], keep: 'kept ✓', brief: 'y', missing: null });
    } finally {
      await first.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 350));
    const second = await startHost();
    try {
      await load(second, 'reader', `return report(await Promise.all(['keep', 'gone', 'brief', 'lasting'].map((k) => ctx.kv.get(k))));`, spec);
      assert.deepEqual(await reportOf(second, 'reader'), ['kept ✓', null, null, 'z']);
    } finally {
      await second.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('kv writes that resolved survive a SIGKILL of the host; the restarted host reloads the agent with its store', async () => {
  const dir = await tempDir();
  const host = await startHost();
  try {
    await load(host, 'counter', `
      const n = Number((await ctx.kv.get('n')) ?? '0') + 1;
      await ctx.kv.set('n', String(n));
      return report(n);`, { grants: grants(['kv'], { kvDir: dir }) });
    assert.equal(await reportOf(host, 'counter'), 1);
    assert.equal(await reportOf(host, 'counter'), 2);
    const pid = host.pid as number;
    process.kill(pid, 'SIGKILL');
    // Wait until the supervisor noticed the death and spawned a new host (a call sent earlier would die with the old one).
    for (let waited = 0; host.pid === pid || host.pid === undefined; waited += 20) {
      assert.ok(waited < 10_000, 'the host was restarted');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(await reportOf(host, 'counter'), 3, 'the count written before the kill was read back');
  } finally {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('kv limits are errors thrown inside the isolate: key and value size, and the 10 MiB quota', async () => {
  const dir = await tempDir();
  const host = await startHost();
  try {
    await load(host, 'hoarder', `
      const errors = {};
      const attempt = async (name, call) => { try { await call(); errors[name] = 'ok'; } catch (e) { errors[name] = (e instanceof Error) + ' ' + e.message; } };
      await attempt('key', () => ctx.kv.set('k'.repeat(257), 'v'));
      await attempt('value', () => ctx.kv.set('k', 'v'.repeat(65537)));
      await attempt('type', () => ctx.kv.set('k', 42));
      await attempt('ttl', () => ctx.kv.set('k', 'v', { ttlMs: -1 }));
      await attempt('option', () => ctx.kv.set('k', 'v', { ttl: 5 }));
      const chunk = 'v'.repeat(65536);
      let stored = 0;
      for (let i = 0; i < 170; i++) {
        try { await ctx.kv.set('chunk' + String(i).padStart(3, '0'), chunk); stored++; }
        catch (e) { errors.quota = e.message; break; }
      }
      return report({ errors, stored });`, { grants: grants(['kv'], { kvDir: dir }) });
    const { errors, stored } = (await reportOf(host, 'hoarder', 30_000)) as { errors: Record<string, string>; stored: number };
    assert.equal(errors.key, 'true kv.set: key is 257 bytes; the limit is 256');
    assert.equal(errors.value, 'true kv.set: value is 65537 bytes; the limit is 65536');
    assert.equal(errors.type, 'true kv.set: value must be a string');
    assert.equal(errors.ttl, 'true kv.set: options.ttlMs must be at least 1');
    assert.equal(errors.option, 'true kv.set: options.ttl is not a known option');
    assert.equal(stored, 159, '159 entries of 8 + 65536 bytes fit in 10 MiB');
    assert.match(errors.quota ?? '', /^kv\.set: the store would hold \d+ bytes; the quota is 10485760$/);
  } finally {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('fetch reaches a granted origin; another port is refused; a redirect to another origin is returned, not followed', async () => {
  const other = await serve((_, res) => res.end('other'));
  const granted = await serve((req, res) => {
    if (req.url === '/redirect') {
      res.writeHead(302, { Location: `${other.origin}/landing` });
      res.end();
      return;
    }
    res.writeHead(200, { 'X-Served': 'yes' });
    res.end(`${req.method} ${req.url} ${String(req.headers['x-agent'])}`);
  });
  const host = await startHost();
  try {
    await load(host, 'fetcher', `
      const ok = await ctx.fetch(event.granted + '/hello?x=1', { headers: { 'X-Agent': 'a1' } });
      let refused;
      try { await ctx.fetch(event.other + '/'); refused = 'fetched'; } catch (e) { refused = e.message; }
      const redirect = await ctx.fetch(event.granted + '/redirect');
      return report({ ok, refused, redirect: { status: redirect.status, location: redirect.headers.location, text: redirect.text } });`,
      { grants: grants(['fetch'], { fetchOrigins: [granted.origin] }) });
    const { result, report } = await run(host, 'fetcher', 3000, { granted: granted.origin, other: other.origin });
    assert.equal(result.steps[0]?.outcome, 'ok', result.steps[0]?.error);
    const r = report as { ok: { status: number; headers: Record<string, string>; text: string }; refused: string; redirect: unknown };
    assert.equal(r.ok.status, 200);
    assert.equal(r.ok.headers['x-served'], 'yes');
    assert.equal(r.ok.text, 'GET /hello?x=1 a1');
    assert.equal(r.refused, `fetch: origin ${other.origin} is not granted`);
    assert.deepEqual(r.redirect, { status: 302, location: `${other.origin}/landing`, text: '' });
    assert.deepEqual(other.hits, [], 'the other origin was never contacted');
  } finally {
    await host.close();
    await granted.close();
    await other.close();
  }
});

test('a fetch to a server that does not answer is cut at the event budget: the step fails fast and the next event is served', async () => {
  const slow = await serve(() => {});
  const host = await startHost();
  try {
    await load(host, 'waiter', `
      if (event.quick) return report('served');
      await ctx.fetch(event.url);
      return report('answered');`, { grants: grants(['fetch'], { fetchOrigins: [slow.origin] }) });
    const started = performance.now();
    const { result } = await run(host, 'waiter', 300, { url: `${slow.origin}/hang` });
    const elapsed = performance.now() - started;
    const step = result.steps[0];
    assert.ok(step?.outcome === 'timeout' || step?.outcome === 'error', `outcome ${step?.outcome}`);
    if (step?.outcome === 'error') assert.match(step.error ?? '', /fetch: .*time budget ran out/);
    assert.equal(result.verdict.verdict, 'tempfail');
    assert.ok(elapsed < 300 + 1500, `returned after ${Math.round(elapsed)} ms`);
    assert.equal(slow.hits.length, 1);
    const next = await run(host, 'waiter', 1000, { quick: true });
    assert.equal(next.report, 'served');
  } finally {
    await host.close();
    await slow.close();
  }
});

test('an agent may catch a capability failure caused by the budget and still answer', async () => {
  const slow = await serve(() => {});
  const host = await startHost();
  try {
    await load(host, 'patient', `
      try { await ctx.fetch(event.url); } catch (e) { return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'caught: ' + e.message.slice(0, 100) }; }`,
      { grants: grants(['fetch'], { fetchOrigins: [slow.origin] }) });
    // The fetch is bounded by the event's budget; its rejection reaches the agent before the wall-clock grace ends.
    const result = await host.runChain('onMailFrom', { url: `${slow.origin}/hang` }, [{ agentId: 'patient', budgetMs: 400 }]);
    const step = result.steps[0];
    if (step?.outcome === 'ok') assert.match(result.verdict.verdict === 'reject' ? result.verdict.text : '', /^caught: fetch: .*time budget ran out/);
    else assert.equal(step?.outcome, 'timeout', step?.error);
  } finally {
    await host.close();
    await slow.close();
  }
});

test('dns resolves A, AAAA, MX, TXT (strings joined) and PTR from a local DNS server given by dnsServers', async () => {
  const dns = await startDnsTestServer({
    'mx.test': { A: ['192.0.2.7'], AAAA: ['2001:db8::7'], MX: [{ exchange: 'in.mx.test', priority: 5 }], TXT: [['v=spf1 ', 'ip4:192.0.2.7 ', '-all']] },
    '7.2.0.192.in-addr.arpa': { PTR: ['mail.mx.test'] },
  });
  const host = await startHost();
  try {
    await load(host, 'resolver', `
      const r = (name, type) => ctx.dns.resolve(name, type);
      let bad;
      try { await r('mx.test', 'SRV'); } catch (e) { bad = e.message; }
      return report({ a: await r('mx.test', 'A'), aaaa: await r('mx.test', 'AAAA'), mx: await r('mx.test', 'MX'), txt: await r('mx.test', 'TXT'), ptr: await r('192.0.2.7', 'PTR'), none: await r('nope.test', 'A'), bad });`,
      { grants: grants(['dns'], { dnsServers: [dns.server] }) });
    assert.deepEqual(await reportOf(host, 'resolver'), {
      a: ['192.0.2.7'],
      aaaa: ['2001:db8::7'],
      mx: [{ exchange: 'in.mx.test', priority: 5 }],
      txt: ['v=spf1 ip4:192.0.2.7 -all'],
      ptr: ['mail.mx.test'],
      none: [],
      bad: 'dns.resolve: type must be one of A, AAAA, MX, TXT, PTR',
    });
    assert.ok(dns.queries.length >= 6);
  } finally {
    await host.close();
    await dns.close();
  }
});

test('ctx functions are plain functions of the isolate: no path through them reaches the host', async () => {
  const dir = await tempDir();
  const host = await startHost();
  try {
    await load(host, 'prober', `
      const fns = [ctx.log.info, ctx.remainingMs, ctx.kv.get, ctx.kv.set, ctx.dns.resolve, ctx.fetch];
      const escape = (fn) => { try { return 'got ' + typeof fn.constructor('return process')(); } catch (e) { return e.name; } };
      const caller = (fn) => { try { return typeof fn.caller; } catch (e) { return e.name; } };
      Error.prepareStackTrace = (e, frames) => frames;
      let frames = 0, hostFrames = 0;
      const probe = { toString() { for (const f of new Error().stack) { frames++; const t = f.getThis(), fn = f.getFunction(); if ((t && t.process) || (fn && fn.name && /ivm|Callback/.test(fn.name))) hostFrames++; } return 'probe'; } };
      ctx.log.info(probe);
      const failure = await ctx.kv.set('k'.repeat(300), 'v').catch((e) => e);
      return report({
        protos: fns.map((fn) => Object.getPrototypeOf(fn) === Function.prototype),
        escapes: fns.map(escape),
        callers: fns.map(caller),
        errorIsLocal: failure instanceof Error && Object.getPrototypeOf(failure) === Error.prototype,
        bridge: [typeof globalThis.__sluiceBridge, Object.getOwnPropertyNames(globalThis).filter((n) => /sluice|bridge/i.test(n))],
        frames, hostFrames,
      });`, { grants: grants(['kv', 'dns', 'fetch'], { kvDir: dir, fetchOrigins: ['http://127.0.0.1:9'] }) });
    const report = (await reportOf(host, 'prober')) as Record<string, unknown>;
    assert.deepEqual(report.protos, [true, true, true, true, true, true]);
    for (const outcome of report.escapes as string[]) assert.match(outcome, /^(ReferenceError|got undefined)$/);
    for (const outcome of report.callers as string[]) assert.equal(outcome, 'TypeError');
    assert.equal(report.errorIsLocal, true);
    assert.deepEqual(report.bridge, ['undefined', []]);
    assert.ok((report.frames as number) > 0);
    assert.equal(report.hostFrames, 0);
  } finally {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('an agent that replaces intrinsics cannot get the bridge passed to its code', async () => {
  const dir = await tempDir();
  const host = await startHost();
  try {
    await load(host, 'trapper', `
      const seen = [];
      const rApply = Reflect.apply;
      const grab = (x) => { if (typeof x === 'function' && x !== grab) seen.push(x.name || 'anonymous'); };
      const wrap = (obj, name) => { const orig = obj[name]; obj[name] = function (...args) { grab(this); args.forEach(grab); return rApply(orig, this, args); }; };
      for (const [obj, name] of [[Function.prototype, 'call'], [Function.prototype, 'apply'], [String.prototype, 'slice'], [String.prototype, 'charAt'], [JSON, 'stringify'], [JSON, 'parse'], [Reflect, 'apply'], [Object, 'freeze']]) wrap(obj, name);
      Object.defineProperty(Object.prototype, 'then', { get() { grab(this); return undefined; }, configurable: true });
      ctx.log.info('x', { a: 1 });
      await ctx.kv.set('k', 'v');
      const v = await ctx.kv.get('k');
      delete Object.prototype.then;
      return report({ v, seen });`, { grants: grants(['kv'], { kvDir: dir }) });
    assert.deepEqual(await reportOf(host, 'trapper'), { v: 'v', seen: [] });
  } finally {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a loop after a capability reply times out at the budget, and the agent is served again afterwards', async () => {
  const dir = await tempDir();
  const host = await startHost();
  try {
    await load(host, 'looper', `
      const v = await ctx.kv.get('k');
      if (!event.quick) for (;;) {}
      return report(v);`, { grants: grants(['kv'], { kvDir: dir }) });
    const started = performance.now();
    const { result } = await run(host, 'looper', 300);
    assert.equal(result.steps[0]?.outcome, 'timeout', result.steps[0]?.error);
    assert.ok(performance.now() - started < 300 + 1500);
    const next = await run(host, 'looper', 1000, { quick: true });
    assert.equal(next.result.steps[0]?.outcome, 'ok');
    assert.equal(next.report, null);
  } finally {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('calls left running when an event ends are dropped, and at most 16 calls may be in flight', async () => {
  const dir = await tempDir();
  const slow = await serve(() => {});
  const host = await startHost();
  try {
    await load(host, 'juggler', `
      if (event.fire) { ctx.fetch(event.url); ctx.kv.get('k'); return report('left them'); }
      const settled = await Promise.allSettled(Array.from({ length: 20 }, () => ctx.kv.get('k')));
      const rejected = settled.filter((s) => s.status === 'rejected').map((s) => s.reason.message);
      return report({ fulfilled: settled.length - rejected.length, rejected: [...new Set(rejected)] });`,
      { grants: grants(['kv', 'fetch'], { kvDir: dir, fetchOrigins: [slow.origin] }) });
    assert.equal((await run(host, 'juggler', 300, { fire: true, url: `${slow.origin}/hang` })).report, 'left them');
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.deepEqual((await run(host, 'juggler', 2000)).report, { fulfilled: 16, rejected: ['kv.get: more than 16 capability calls in flight'] });
    assert.equal(await host.ping(), true);
  } finally {
    await host.close();
    await slow.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('grants the code never uses load fine; bad grants fail the load with the field named', async () => {
  const dir = await tempDir();
  const host = await startHost();
  try {
    await load(host, 'unused', `return report('fine');`, { grants: grants(['log', 'kv', 'dns', 'fetch'], { kvDir: dir, fetchOrigins: ['https://a.example'], dnsServers: ['127.0.0.1:53'] }) });
    assert.equal(await reportOf(host, 'unused'), 'fine');
    const code = agentCode('return;');
    const bad = async (g: AgentGrants): Promise<string> => {
      const loaded = await host.load({ agentId: 'bad', code, memoryMiB: 32, grants: g });
      assert.equal(loaded.ok, false);
      return loaded.ok ? '' : loaded.error;
    };
    assert.equal(await bad(grants(['kv'])), 'grants.kvDir: an absolute directory is required when kv is granted');
    assert.equal(await bad(grants(['kv'], { kvDir: 'relative/dir' })), 'grants.kvDir: an absolute directory is required when kv is granted');
    assert.match(await bad(grants(['fetch'], { fetchOrigins: ['https://a.example/path'] })), /^grants\.fetchOrigins\[0\]: /);
    assert.match(await bad(grants(['dns'], { dnsServers: ['not-an-ip'] })), /^grants\.dnsServers: /);
  } finally {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the host refuses calls for capabilities that were not granted, whatever reaches the bridge', async () => {
  const capabilities = await AgentCapabilities.open({ agentId: 'nothing', code: '', memoryMiB: 8 }, () => {});
  try {
    assert.equal(capabilities.granted.size, 0);
    assert.deepEqual(JSON.parse(capabilities.setup), { capabilities: [], limits: { callsInFlight: 16, argsChars: 2 * 1024 * 1024 } });
    const replies: [number, string][] = [];
    const bridge = capabilities.bridge((id, reply) => replies.push([id, reply]));
    capabilities.beginEvent(1000);
    bridge.call(1, 'kv.get', '["k"]');
    bridge.call(2, 'dns.resolve', '["example.com","A"]');
    bridge.call(3, 'fetch', '["https://a.example/",null]');
    bridge.call(4, 'process.exit', '[]');
    bridge.call(5, 'kv.get', 'not json');
    assert.deepEqual(replies, [], 'replies never come back synchronously');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(replies.sort((a, b) => a[0] - b[0]), [
      [1, 'Ekv.get: the kv capability is not granted to this agent'],
      [2, 'Edns.resolve: the dns capability is not granted to this agent'],
      [3, 'Efetch: the fetch capability is not granted to this agent'],
      [4, 'Eunknown capability call "process.exit"'],
      [5, 'Ekv.get: the kv capability is not granted to this agent'],
    ]);
    capabilities.endEvent();
    bridge.call(6, 'kv.get', '["k"]');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(replies.length, 5, 'no call is served outside an event');
  } finally {
    await capabilities.close();
  }
});

test('the host itself counts calls in flight and refuses oversized arguments, without trusting the prelude', async () => {
  const dir = await tempDir();
  const capabilities = await AgentCapabilities.open({ agentId: 'direct', code: '', memoryMiB: 8, grants: grants(['kv'], { kvDir: dir }) }, () => {});
  try {
    const replies = new Map<number, string>();
    const bridge = capabilities.bridge((id, reply) => replies.set(id, reply));
    capabilities.beginEvent(2000);
    bridge.call(19, 'kv.get', JSON.stringify(['x'.repeat(3 * 1024 * 1024)]));
    for (let id = 1; id <= 18; id++) bridge.call(id, 'kv.set', JSON.stringify([`k${id}`, 'v', null]));
    for (let waited = 0; replies.size < 19; waited += 10) {
      assert.ok(waited < 5000, `${replies.size} of 19 replies`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.deepEqual([...replies.entries()].filter(([, reply]) => reply === 'O').map(([id]) => id).sort((a, b) => a - b), Array.from({ length: 16 }, (_, i) => i + 1));
    assert.equal(replies.get(17), 'Ekv.set: more than 16 capability calls in flight');
    assert.equal(replies.get(18), 'Ekv.set: more than 16 capability calls in flight');
    assert.equal(replies.get(19), 'Ekv.get: the arguments are larger than 2097152 characters of JSON');
    capabilities.endEvent();
  } finally {
    await capabilities.close();
    await rm(dir, { recursive: true, force: true });
  }
});
