// The payload lines: every agent gets the whole payload if it asked for the body (or there is none), the payload without its body otherwise, and the chain runner hands each agent exactly its line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runChainWith } from './chain-runner.ts';
import { payloadLineFor, payloadLines } from './payload-lines.ts';
import type { ChainLink } from './protocol.ts';

/** What each agent is handed by the chain runner, in chain order. */
async function whatTheRunnerGives(payload: unknown, chain: ChainLink[]): Promise<string[]> {
  const seen: string[] = [];
  await runChainWith('onEndOfData', payloadLines(payload, chain), chain, async (_agentId, _event, payloadJson) => {
    seen.push(payloadJson);
    return { kind: 'no-handler' };
  });
  return seen;
}

/** The rule, stated independently: the body only to agents that asked for it. */
function expected(payload: unknown, chain: ChainLink[]): string[] {
  const hasBody = payload !== null && typeof payload === 'object' && !Array.isArray(payload) && 'body' in payload;
  return chain.map((l) => JSON.stringify(hasBody && l.body !== true ? { ...(payload as object), body: undefined } : (payload ?? null)));
}

const withBody = { envelope: { sender: 'a@example.org' }, headers: [{ name: 'Subject', value: 'hi' }], body: 'SGVsbG8=' };
const withoutBody = { envelope: { sender: 'a@example.org' }, headers: [] };
const link = (agentId: string, body?: boolean): ChainLink => (body === undefined ? { agentId, budgetMs: 100 } : { agentId, budgetMs: 100, body });

const CHAINS: Array<[string, ChainLink[]]> = [
  ['nobody asked for the body', [link('a'), link('b', false)]],
  ['everybody asked', [link('a', true), link('b', true)]],
  ['some asked', [link('a'), link('b', true), link('c', false), link('d', true)]],
  ['an empty chain', []],
];
const PAYLOADS: Array<[string, unknown]> = [
  ['a payload with a body', withBody],
  ['a payload without one', withoutBody],
  ['null', null],
  ['undefined', undefined],
  ['a string', 'text'],
  ['an array', [1, { body: 2 }]],
];

for (const [chainTitle, chain] of CHAINS) {
  for (const [payloadTitle, payload] of PAYLOADS) {
    test(`${payloadTitle}, ${chainTitle}: every agent gets the payload text the rule says`, async () => {
      const lines = payloadLines(payload, chain);
      assert.deepEqual(chain.map((l) => payloadLineFor(l, lines)), expected(payload, chain));
      assert.deepEqual(await whatTheRunnerGives(payload, chain), expected(payload, chain));
    });
  }
}

test('an agent that did not ask never sees the body, and the payload is serialized once per variant', () => {
  const chain = [link('a'), link('b', true)];
  const lines = payloadLines(withBody, chain);
  assert.equal(lines.length, 2);
  assert.equal(JSON.parse(payloadLineFor(chain[0] as ChainLink, lines)).body, undefined);
  assert.equal(JSON.parse(payloadLineFor(chain[1] as ChainLink, lines)).body, 'SGVsbG8=');
  assert.equal(payloadLines(withBody, [link('a')]).length, 1);
  assert.equal(payloadLines(withoutBody, chain).length, 1);
});

test('a payload that cannot be serialized throws instead of reaching the host', () => {
  assert.throws(() => payloadLines({ n: 1n }, [link('a')]), TypeError);
});
