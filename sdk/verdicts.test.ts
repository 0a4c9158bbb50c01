import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as v from 'valibot';
import type { AgentContext } from './context.ts';
import {
  accept,
  acks,
  addHeader,
  defer,
  deferred,
  delivered,
  disconnect,
  drop,
  failed,
  proceed,
  quarantine,
  reject,
  removeHeader,
  setHeader,
  tempfail,
} from './verdicts.ts';
import { DeliveryResultSchema, ReceiveVerdictSchema, RoutingVerdictSchema } from './verdict-schema.ts';
import { defineReceiveAgent } from './define-agent.ts';

const ok = (schema: v.GenericSchema, value: unknown): boolean => v.safeParse(schema, value).success;

test('every helper builds data the runtime accepts', () => {
  for (const verdict of [
    accept(),
    accept([addHeader('X-Scanned', 'yes'), setHeader('Subject', '[ext] hi'), removeHeader('X-Internal')]),
    reject(550, '5.7.1', 'Sender blocked'),
    tempfail(451, '4.7.1', 'Greylisted'),
    disconnect(),
    disconnect('Bye'),
  ]) {
    assert.ok(ok(ReceiveVerdictSchema, verdict), JSON.stringify(verdict));
  }
  for (const verdict of [proceed(), proceed({ recipients: [{ op: 'override', address: 'a@example.com', route: 'gw' }] }), defer(60_000, 'later'), drop('dup'), quarantine('bad')]) {
    assert.ok(ok(RoutingVerdictSchema, verdict), JSON.stringify(verdict));
  }
  assert.ok(ok(DeliveryResultSchema, acks(delivered('a@x.test'), deferred('b@x.test', 'busy'), failed('c@x.test', 550, '5.1.1', 'no such user'))));
});

test('the runtime refuses verdicts that would lie about their class or break the protocol', () => {
  const bad: unknown[] = [
    reject(250, '2.0.0', 'OK'),
    reject(550, '4.7.1', 'wrong class'),
    tempfail(550, '5.7.1', 'permanent dressed as temporary'),
    reject(550, '5.7.1', 'line one\r\n250 forged'),
    reject(550, '5.7.1', ''),
    accept([addHeader('X-Evil', 'a\r\nBcc: victim@example.com')]),
    accept([addHeader('Bad Name', 'x')]),
    accept([addHeader('X:Colon', 'x')]),
    { verdict: 'nope' },
    { verdict: 'reject', code: 550 },
    null,
    'continue',
    42,
  ];
  for (const verdict of bad) assert.ok(!ok(ReceiveVerdictSchema, verdict), JSON.stringify(verdict));
  assert.ok(!ok(RoutingVerdictSchema, defer(10, 'too soon')), 'a defer shorter than a second');
  assert.ok(!ok(DeliveryResultSchema, acks(failed('c@x.test', 450, '4.1.1', 'temporary is not failed'))));
});

test('defineReceiveAgent keeps the handlers and labels the kind', async () => {
  const agent = defineReceiveAgent({
    onRcptTo: (e) => (e.recipient.endsWith('@example.com') ? undefined : reject(550, '5.7.1', 'Recipient not allowed')),
  });
  assert.equal(agent.kind, 'receive');
  const session = { id: 's1', client: { address: '192.0.2.1', port: 1 } };
  const ctx: AgentContext = { config: undefined, log: { debug() {}, info() {}, warn() {}, error() {} }, remainingMs: () => 1000 };
  const verdict = await agent.handlers.onRcptTo!({ session, sender: 'a@x.test', recipient: 'b@other.test', params: {}, accepted: [] }, ctx);
  assert.deepEqual(verdict, { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'Recipient not allowed' });
});
