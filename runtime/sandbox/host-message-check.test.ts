// The hand check of chain answers accepts only what the valibot schema accepts, with the same output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as v from 'valibot';
import { checkChainMessage, parseHostMessage } from './host-message-check.ts';
import { HostMessageSchema } from './protocol.ts';

const step = (agentId: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ agentId, ms: 0.42, outcome: 'ok', ...extra });
const chain = (result: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'chain', id: 3, result, ...extra });
const continued = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ verdict: { verdict: 'continue' }, decidedBy: null, steps: [step('vendor/a')], ...extra });

/** Answers the hand check must take, all valid. */
const COMMON: Array<[string, unknown]> = [
  ['a continue with steps', chain(continued())],
  ['a continue without steps', chain(continued({ steps: [] }))],
  ['a reject decided by an agent', chain({ verdict: { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'no' }, decidedBy: 'vendor/a', steps: [step('vendor/a')] })],
  ['a failure with error texts', chain({ verdict: { verdict: 'tempfail', code: 451, enhanced: '4.3.0', text: 'later' }, decidedBy: 'b', steps: [step('a', { outcome: 'error', error: 'x' }), step('b', { outcome: 'crash', error: '' })] })],
  ['header edits', chain(continued({ headers: [{ op: 'add', name: 'X-A', value: '1' }, { op: 'remove', name: 'X-B' }] }))],
  ['a disconnect without text', chain({ verdict: { verdict: 'disconnect' }, decidedBy: 'a', steps: [step('a')] })],
];

/** Answers that are invalid, or valid only after valibot drops what it does not know. */
const ODD: Array<[string, unknown]> = [
  ['an extra key on the message', chain(continued(), { extra: 1 })],
  ['an extra key on the result', chain(continued({ extra: 1 }))],
  ['an extra key on a step', chain(continued({ steps: [step('a', { extra: 1 })] }))],
  ['an extra key on a continue verdict', chain(continued({ verdict: { verdict: 'continue', extra: 1 } }))],
  ['an agent id with a space', chain(continued({ steps: [step('bad id')] }))],
  ['an agent id too long', chain(continued({ steps: [step('a'.repeat(129))] }))],
  ['decidedBy a number', chain(continued({ decidedBy: 1 }))],
  ['decidedBy missing', chain({ verdict: { verdict: 'continue' }, steps: [] })],
  ['ms a string', chain(continued({ steps: [step('a', { ms: '1' })] }))],
  ['ms NaN', chain(continued({ steps: [step('a', { ms: Number.NaN })] }))],
  ['an unknown outcome', chain(continued({ steps: [step('a', { outcome: 'fine' })] }))],
  ['an error that is not a string', chain(continued({ steps: [step('a', { error: 1 })] }))],
  ['an error key holding undefined', chain(continued({ steps: [step('a', { error: undefined })] }))],
  ['steps not an array', chain(continued({ steps: {} }))],
  ['a step that is null', chain(continued({ steps: [null] }))],
  ['a negative id', chain(continued(), { id: -1 })],
  ['a fractional id', chain(continued(), { id: 1.5 })],
  ['a reject with a 4xx code', chain(continued({ verdict: { verdict: 'reject', code: 450, enhanced: '5.7.1', text: 'no' } }))],
  ['a reply text with a newline', chain(continued({ verdict: { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'a\nb' } }))],
  ['a verdict from another kind', chain(continued({ verdict: { verdict: 'delete', reason: 'x' } }))],
  ['a header value with CR LF', chain(continued({ headers: [{ op: 'add', name: 'X-A', value: 'a\r\nB: c' }] }))],
  ['headers holding undefined', chain(continued({ headers: undefined }))],
  ['headers not an array', chain(continued({ headers: 'X-A: 1' }))],
  ['a result that is an array', chain([] as unknown as Record<string, unknown>)],
  ['a result that is null', { type: 'chain', id: 3, result: null }],
  ['not a chain at all', { type: 'pong', id: 3 }],
  ['a log line', { type: 'log', agentId: 'a', level: 'info', message: 'hi' }],
  ['an unknown type', { type: 'step', id: 3, agentId: 'a', done: [] }],
];

test('common chain answers take the hand check and come out as valibot outputs them', () => {
  for (const [title, message] of COMMON) {
    const parsed = v.safeParse(HostMessageSchema, message);
    assert.ok(parsed.success, `${title}: valid`);
    assert.deepEqual(checkChainMessage(message), parsed.output, title);
    assert.deepEqual(parseHostMessage(message), { success: true, output: parsed.output }, title);
  }
});

test('whatever the hand check cannot vouch for is decided by the schema, with the same outcome and output', () => {
  for (const [title, message] of ODD) {
    const parsed = v.safeParse(HostMessageSchema, message);
    const fast = checkChainMessage(message);
    if (fast !== undefined) assert.deepEqual(fast, parsed.success ? parsed.output : 'invalid', `${title}: the hand check accepted it`);
    const checked = parseHostMessage(message);
    assert.equal(checked.success, parsed.success, title);
    if (checked.success && parsed.success) assert.deepEqual(checked.output, parsed.output, title);
  }
});

test('an invalid answer is refused with the path of the field', () => {
  const checked = parseHostMessage(chain(continued({ steps: [step('a', { outcome: 'fine' })] })));
  assert.equal(checked.success, false);
  assert.match(checked.success ? '' : checked.error, /^result\.steps\.0\.outcome: /);
});
