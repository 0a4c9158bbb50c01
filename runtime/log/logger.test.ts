import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from './logger.ts';

const fixed = (): Date => new Date('2026-11-23T10:00:00.000Z');

test('text lines are time, level, event and key=value pairs', () => {
  const lines: string[] = [];
  const log = createLogger({ format: 'text', level: 'info', write: (l) => lines.push(l), now: fixed });
  log('info', 'message.accepted', { id: 'ABC', to: ['a@x.test', 'b@x.test'], size: 12, skipped: undefined });
  assert.deepEqual(lines, ['2026-11-23T10:00:00.000Z info  message.accepted id=ABC to=a@x.test,b@x.test size=12']);
});

test('values with spaces, quotes or control characters are JSON-quoted, never raw', () => {
  const lines: string[] = [];
  const log = createLogger({ format: 'text', level: 'info', write: (l) => lines.push(l), now: fixed });
  log('warn', 'smtp.auth.failed', { user: 'evil\r\nX-Injected: 1', reason: 'two words' });
  assert.equal(lines.length, 1);
  assert.ok(!/[\r\n]/.test(lines[0]!));
  assert.match(lines[0]!, /user="evil\\r\\nX-Injected: 1" reason="two words"$/);
});

test('the JSON format is one object per line and the level filter applies', () => {
  const lines: string[] = [];
  const log = createLogger({ format: 'json', level: 'warn', write: (l) => lines.push(l), now: fixed });
  log('info', 'dropped', {});
  log('error', 'spool.io', { id: 'X', code: 'EIO' });
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]!), { time: '2026-11-23T10:00:00.000Z', level: 'error', event: 'spool.io', id: 'X', code: 'EIO' });
});
