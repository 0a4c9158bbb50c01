import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from './router.ts';
import type { ConnectorConfig } from '../config/schema.ts';

const smtp = (name: string, addressSpaces: string[], extra: Partial<Extract<ConnectorConfig, { type: 'smtp' }>> = {}): ConnectorConfig => ({
  type: 'smtp',
  name,
  addressSpaces,
  priority: 100,
  maxConnections: 4,
  port: 25,
  tls: 'opportunistic',
  ...extra,
});

const router = new Router({
  domains: ['example.com', 'example.org'],
  connectors: [
    smtp('wild', ['*']),
    smtp('sub', ['*.partner.test']),
    smtp('exact', ['partner.test'], { smartHosts: ['relay.partner.test:587', '[192.0.2.7]'] }),
    smtp('cheap', ['*.partner.test'], { priority: 10 }),
    { type: 'agent', name: 'hook', addressSpaces: ['hooks.test'], priority: 100, maxConnections: 4, agent: 'sluice/webhook' },
  ],
});

test('accepted domains go to the Maildir, whatever the case; a bare postmaster goes to the first domain', () => {
  assert.deepEqual(router.route('Bob@Example.COM'), { kind: 'hop', connector: 'maildir', destination: 'example.com' });
  assert.deepEqual(router.route('postmaster'), { kind: 'hop', connector: 'maildir', destination: 'example.com' });
});

test('the most specific address space wins, then the lower priority; smart hosts make one queue for all their domains', () => {
  assert.deepEqual(router.route('a@partner.test'), { kind: 'hop', connector: 'exact', destination: 'relay.partner.test:587,[192.0.2.7]' });
  assert.deepEqual(router.route('a@mx.partner.test'), { kind: 'hop', connector: 'cheap', destination: 'mx.partner.test' }, '*.partner.test twice: priority 10 beats 100');
  assert.deepEqual(router.route('a@elsewhere.test'), { kind: 'hop', connector: 'wild', destination: 'elsewhere.test' });
  assert.deepEqual(router.route('a@hooks.test'), { kind: 'hop', connector: 'hook', destination: 'hooks.test' });
  assert.deepEqual(router.route('a@xpartner.test'), { kind: 'hop', connector: 'wild', destination: 'xpartner.test' }, '*.partner.test does not match xpartner.test');
});

test('without a matching connector, the implicit direct connector delivers by MX', () => {
  const bare = new Router({ domains: ['example.com'], connectors: [] });
  assert.deepEqual(bare.route('a@far.test'), { kind: 'hop', connector: 'direct', destination: 'far.test' });
  assert.ok(bare.connectors().some((c) => c.name === 'direct'));
});

test('an override names a connector, a host, or the Maildir; anything else is unroutable with a reason', () => {
  assert.deepEqual(router.route('a@example.com', 'exact'), { kind: 'hop', connector: 'exact', destination: 'relay.partner.test:587,[192.0.2.7]' });
  assert.deepEqual(router.route('a@far.test', 'hook'), { kind: 'hop', connector: 'hook', destination: 'far.test' });
  assert.deepEqual(router.route('a@far.test', 'MX.Other.test:2525'), { kind: 'hop', connector: 'direct', destination: 'mx.other.test:2525' });
  assert.deepEqual(router.route('a@far.test', '[192.0.2.1]'), { kind: 'hop', connector: 'direct', destination: '[192.0.2.1]' });
  assert.deepEqual(router.route('a@example.org', 'maildir'), { kind: 'hop', connector: 'maildir', destination: 'example.org' });
  const local = router.route('a@far.test', 'maildir');
  assert.equal(local.kind, 'unroutable');
  assert.match(local.kind === 'unroutable' ? local.reply : '', /^550 5\.4\.4 /);
  const nonsense = router.route('a@far.test', 'no such thing!');
  assert.match(nonsense.kind === 'unroutable' ? nonsense.reply : '', /^550 5\.4\.4 routing override names no connector or host/);
});
