import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentInfo } from '../agents/registry-types.ts';
import { createSignedBundle } from '../../sdk/bundle/build-bundle.ts';
import { draftManifest } from '../../sdk/bundle/bundle-test-kit.ts';
import { agentSource } from '../testing/agent-kit.ts';
import { generateKeyPair } from '../../sdk/bundle/signing.ts';
import { call, startTestApi } from './api-test-kit.ts';
import { renderMetrics } from './prometheus-text.ts';

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/;

/** Checks the 0.0.4 text format line by line; returns samples as `name{labels}` → value. */
function parseExposition(text: string): Map<string, number> {
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  const typed = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.slice(0, -1).split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary|histogram|untyped)$/.exec(line);
    if (type) {
      assert.ok(!typed.has(type[1]!), `one TYPE line per family: ${type[1]}`);
      typed.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a valid sample line: ${JSON.stringify(line)}`);
    const name = m[1]!;
    const family = typed.has(name) ? name : name.replace(/_(count|sum)$/, '');
    assert.ok(typed.has(family), `sample ${name} comes after its TYPE line`);
    if (typed.get(family) === 'counter') assert.match(name, /_total$/);
    samples.set(`${name}${m[2] ?? ''}`, Number(m[3]));
  }
  return samples;
}

test('GET /metrics is Prometheus text 0.0.4 with per-agent call, latency, failure and breaker series, readable by a read-only token', async () => {
  const api = await startTestApi();
  try {
    const pair = generateKeyPair();
    await call(api, 'POST', '/v1/keys', { json: { publicKey: pair.publicKey, vendors: ['acme'] } });
    await call(api, 'POST', '/v1/agents', {
      body: createSignedBundle({
        manifest: draftManifest(),
        code: agentSource(`onRcptTo(e) {
          if (e.recipient.startsWith('blocked')) return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'no' };
          if (e.recipient.startsWith('boom')) throw new Error('boom');
        }`),
        privateKey: pair.privateKey,
      }),
      contentType: 'application/octet-stream',
    });
    await call(api, 'POST', '/v1/agents/acme/greylist/enable', { json: {} });
    for (const to of ['ok@x', 'blocked@x', 'blocked@x', 'boom@x', 'boom@x']) await api.rcptTo(to);
    const stats = api.registry.stats('acme/greylist').events.onRcptTo!;
    const ro = (await call(api, 'POST', '/v1/tokens', { json: { name: 'prometheus' } })).json.token as string;
    const res = await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${ro}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const samples = parseExposition(await res.text());
    const at = 'agent="acme/greylist",event="onRcptTo"';
    const expected: Record<string, number> = {
      'sluice_smtp_connections': 3,
      'sluice_queue_messages': 7,
      'sluice_queue_bytes': 7000,
      'sluice_agent_enabled{agent="acme/greylist"}': 1,
      'sluice_agent_breaker_open{agent="acme/greylist"}': 1,
      [`sluice_agent_calls_total{${at}}`]: 5,
      [`sluice_agent_latency_seconds{${at},quantile="0.5"}`]: stats.p50Ms / 1000,
      [`sluice_agent_latency_seconds{${at},quantile="0.99"}`]: stats.p99Ms / 1000,
      [`sluice_agent_latency_seconds_count{${at}}`]: 5,
      [`sluice_agent_latency_max_seconds{${at}}`]: stats.maxMs / 1000,
      [`sluice_agent_timeouts_total{${at}}`]: 0,
      [`sluice_agent_errors_total{${at}}`]: 2,
      [`sluice_agent_crashes_total{${at}}`]: 0,
      [`sluice_agent_verdicts_total{${at},verdict="reject"}`]: 2,
    };
    for (const [key, value] of Object.entries(expected)) assert.equal(samples.get(key), value, key);
    // The sandbox host's counters, exactly as the driver keeps them (no agent ran since the scrape).
    const sandbox = api.registry.sandboxStats();
    assert.ok(sandbox !== undefined, 'the host process driver keeps counters');
    assert.equal(samples.get('sluice_sandbox_host_restarts_total'), 0);
    for (const result of ['answered', 'empty', 'skipped'] as const) {
      assert.equal(samples.get(`sluice_sandbox_polls_total{result="${result}"}`), sandbox.polls[result], result);
    }
    // Five calls: each was polled for, or skipped while polling paused (the first calls are cold), unless the runtime cannot poll.
    assert.equal(sandbox.polls.answered + sandbox.polls.empty + sandbox.polls.skipped, api.driver.polling ? 5 : 0);
    assert.equal((await call(api, 'GET', '/metrics', { token: null })).status, 401);
  } finally {
    await api.close();
  }
});

test('label values are escaped (backslash, quote, newline) so the exposition stays parseable', () => {
  const info = { name: 'a\\b"c\nd', settings: { enabled: false }, blocked: null } as unknown as AgentInfo;
  const text = renderMetrics({
    version: '1"2',
    uptimeSeconds: 1,
    smtpConnections: 0,
    queue: { messages: 0, bytes: 0 },
    agents: [{ info, stats: { name: info.name, version: '1', breaker: { state: 'closed' }, events: {} } }],
  });
  const samples = parseExposition(text);
  assert.equal(samples.get('sluice_agent_enabled{agent="a\\\\b\\"c\\nd"}'), 0);
  assert.equal(samples.get('sluice_build_info{version="1\\"2"}'), 1);
});
