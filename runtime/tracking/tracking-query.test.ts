import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TrackingEntry } from './tracking-entry.ts';
import { compileQuery, normalizeAddress, TrackingQueryError, type TrackingQuery } from './tracking-query.ts';

const E: TrackingEntry = {
  at: 1000,
  event: 'DELIVER',
  queueId: '01HZ',
  messageId: 'abc@example.com',
  sender: 'Alice@Example.NET',
  recipients: ['bob@example.com', 'Carol@Mail.Example.com'],
};

function hits(q: TrackingQuery, entry: TrackingEntry = E): boolean {
  const c = compileQuery(q);
  const line = JSON.stringify(entry);
  // The cheap line check must never rule out an entry that matches.
  if (c.matches(entry)) assert.ok(c.mayMatch(line), `mayMatch rejected a match for ${JSON.stringify(q)}`);
  return c.mayMatch(line) && c.matches(entry);
}

test('addresses compare with the domain lower-cased and the local part as given', () => {
  assert.equal(normalizeAddress('<Alice@Example.NET>'), 'Alice@example.net');
  assert.equal(normalizeAddress('"a@b"@Example.com'), '"a@b"@example.com');
  assert.equal(normalizeAddress('postmaster'), 'postmaster');
});

test('each key matches and misses as specified', () => {
  assert.ok(hits({ messageId: '<abc@example.com>' }));
  assert.ok(!hits({ messageId: 'abc@example.co' }));
  assert.ok(hits({ sender: 'Alice@example.net' }));
  assert.ok(!hits({ sender: 'alice@example.net' }));
  assert.ok(!hits({ sender: '' }), 'a real sender is not the null sender');
  assert.ok(hits({ sender: '' }, { ...E, sender: '' }));
  assert.ok(!hits({ sender: '' }, { ...E, sender: undefined }), 'an entry without a sender is not the null sender');
  assert.ok(hits({ recipient: 'carol@mail.example.com' }) === false);
  assert.ok(hits({ recipient: 'Carol@MAIL.example.COM' }));
  assert.ok(!hits({ recipient: 'bob@example.com' }, { ...E, recipients: undefined }));
  assert.ok(hits({ queueId: '01HZ', event: 'DELIVER', from: 1000, to: 1000 }));
  assert.ok(!hits({ queueId: '01H' }));
  assert.ok(!hits({ event: 'FAIL' }));
  assert.ok(!hits({ from: 1001 }));
  assert.ok(!hits({ to: 999 }));
});

test('a query with a wrong field throws an error that names it', () => {
  const cases: [TrackingQuery, string][] = [
    [{ limit: 0 }, 'limit'],
    [{ limit: 1001 }, 'limit'],
    [{ from: Number.NaN }, 'from'],
    [{ from: 5, to: 4 }, 'to'],
    [{ messageId: '<>' }, 'messageId'],
    [{ queueId: '' }, 'queueId'],
    [{ sender: 5 as never }, 'sender'],
    [{ event: 'receive' as never }, 'event'],
  ];
  for (const [q, field] of cases) {
    assert.throws(() => compileQuery(q), (e: unknown) => e instanceof TrackingQueryError && e.field === field && e.message.startsWith(`${field}: `), JSON.stringify(q));
  }
});
