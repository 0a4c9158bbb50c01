// An agent's result text as a verdict, per event kind: the bare continue takes a shortcut that must agree with the schemas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAgentResult } from './sandbox-verdict.ts';

const CONTINUE_JSON = '{"verdict":"continue"}';

test('a bare continue (what returning nothing becomes) is a continue for receive, routing and connection events', () => {
  for (const event of ['onMailFrom', 'onEndOfData', 'onRoutedMessage', 'onCategorizedMessage', 'onOpenConnection']) {
    assert.deepEqual(parseAgentResult(event, CONTINUE_JSON), { ok: true, verdict: { verdict: 'continue' } }, event);
    // The same text with other spacing takes the long way and agrees.
    assert.deepEqual(parseAgentResult(event, '{ "verdict": "continue" }'), { ok: true, verdict: { verdict: 'continue' } }, event);
  }
});

test('a delivery item must be answered per recipient: a bare continue is a bad result there, shortcut or not', () => {
  for (const text of [CONTINUE_JSON, '{ "verdict": "continue" }']) {
    const parsed = parseAgentResult('onDeliverMailItem', text);
    assert.equal(parsed.ok, false, text);
    assert.match((parsed as { error: string }).error, /delivery result/);
  }
  assert.deepEqual(parseAgentResult('onDeliverMailItem', '{"recipients":[{"address":"a@b.test","status":"delivered"}]}'), {
    ok: true,
    verdict: { verdict: 'ack', recipients: [{ address: 'a@b.test', status: 'delivered' }] },
  });
});
