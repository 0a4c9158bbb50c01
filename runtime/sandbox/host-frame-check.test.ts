// The hand check of run frames accepts only what the valibot schema accepts, with the same output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as v from 'valibot';
import { checkRunFrame, parseHostFrame } from './host-frame-check.ts';
import { HostFrameSchema } from './protocol.ts';

const run = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  type: 'run',
  id: 9,
  event: 'onMailFrom',
  chain: [{ agentId: 'vendor/a', budgetMs: 100 }],
  lines: 1,
  ...extra,
});
const link = (extra: Record<string, unknown>): Record<string, unknown> => ({ agentId: 'vendor/a', budgetMs: 100, ...extra });

const COMMON: Array<[string, unknown]> = [
  ['one link', run()],
  ['no links', run({ chain: [] })],
  ['two payload lines', run({ lines: 2 })],
  ['every link option', run({ chain: [link({ failure: 'open', body: true }), link({ failure: 'closed', body: false }), link({ budgetMs: 60_000 })] })],
];

const ODD: Array<[string, unknown]> = [
  ['an extra key', run({ extra: 1 })],
  ['a link with an extra key', run({ chain: [link({ extra: 1 })] })],
  ['a link option holding undefined', run({ chain: [link({ body: undefined })] })],
  ['three payload lines', run({ lines: 3 })],
  ['payload lines missing', { type: 'run', id: 9, event: 'onMailFrom', chain: [], x: 1 }],
  ['an event name that is not one', run({ event: 'mailFrom' })],
  ['an agent id with a space', run({ chain: [link({ agentId: 'a b' })] })],
  ['a zero budget', run({ chain: [link({ budgetMs: 0 })] })],
  ['a budget over a minute', run({ chain: [link({ budgetMs: 60_001 })] })],
  ['a fractional budget', run({ chain: [link({ budgetMs: 1.5 })] })],
  ['an unknown failure policy', run({ chain: [link({ failure: 'ignore' })] })],
  ['body as a string', run({ chain: [link({ body: 'yes' })] })],
  ['a chain that is not an array', run({ chain: {} })],
  ['a negative id', run({ id: -1 })],
  ['a ping', { type: 'ping', id: 1 }],
  ['an unload', { type: 'unload', id: 1, agentId: 'vendor/a' }],
  ['an unknown type', { type: 'step', id: 1 }],
  ['null', null],
];

test('common run frames take the hand check and come out as valibot outputs them', () => {
  for (const [title, frame] of COMMON) {
    const parsed = v.safeParse(HostFrameSchema, frame);
    assert.ok(parsed.success, `${title}: valid`);
    assert.deepEqual(checkRunFrame(frame), parsed.output, title);
    assert.deepEqual(parseHostFrame(frame), { success: true, output: parsed.output }, title);
  }
});

test('whatever the hand check cannot vouch for is decided by the schema, with the same outcome and output', () => {
  for (const [title, frame] of ODD) {
    const parsed = v.safeParse(HostFrameSchema, frame);
    const fast = checkRunFrame(frame);
    if (fast !== undefined) assert.deepEqual(fast, parsed.success ? parsed.output : 'invalid', `${title}: the hand check accepted it`);
    const checked = parseHostFrame(frame);
    assert.equal(checked.success, parsed.success, title);
    if (checked.success && parsed.success) assert.deepEqual(checked.output, parsed.output, title);
  }
});

test('an invalid frame is refused with the path of the field', () => {
  const checked = parseHostFrame(run({ chain: [link({ budgetMs: 0 })] }));
  assert.equal(checked.success, false);
  assert.match(checked.success ? '' : checked.error, /^chain\.0\.budgetMs: /);
});
