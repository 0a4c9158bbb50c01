// Tests for queue ids: unique, fixed-form, ordered by time, monotonic when the clock steps back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newQueueId, QUEUE_ID_LENGTH, queueIdGenerator, queueIdTime } from './queue-id.ts';
import { EnvelopeSchema } from './envelope.ts';
import * as v from 'valibot';

test('queue ids are unique over 100k calls and strictly increasing', () => {
  const seen = new Set<string>();
  let previous = '';
  for (let i = 0; i < 100_000; i++) {
    const id = newQueueId();
    assert.ok(id > previous, `${id} after ${previous}`);
    seen.add(id);
    previous = id;
  }
  assert.equal(seen.size, 100_000);
});

test('queue ids have a fixed length, use only [0-9A-Za-z] and pass the envelope schema', () => {
  const id = newQueueId();
  assert.equal(id.length, QUEUE_ID_LENGTH);
  assert.match(id, /^[0-9A-Za-z]+$/);
  const envelopeId = v.safeParse(EnvelopeSchema.entries.id, id);
  assert.ok(envelopeId.success);
});

test('queue ids sort by the time they were made', () => {
  let clock = 1_700_000_000_000;
  const next = queueIdGenerator(() => clock);
  const early = next();
  clock += 1;
  const later = next();
  clock += 86_400_000;
  const muchLater = next();
  assert.deepEqual([muchLater, early, later].sort(), [early, later, muchLater]);
  assert.equal(queueIdTime(early), 1_700_000_000_000);
  assert.equal(queueIdTime(muchLater), 1_700_000_000_000 + 1 + 86_400_000);
});

test('queue ids keep increasing when the clock steps back', () => {
  let clock = 1_700_000_000_000;
  const next = queueIdGenerator(() => clock);
  const before = next();
  clock -= 60_000;
  const after = [next(), next(), next()];
  assert.ok(after.every((id) => id > before));
  assert.ok(after[0]! < after[1]! && after[1]! < after[2]!);
  assert.equal(queueIdTime(after[0]!), queueIdTime(before));
});

test('two generators with the same clock still give different ids', () => {
  const a = queueIdGenerator(() => 1_700_000_000_000);
  const b = queueIdGenerator(() => 1_700_000_000_000);
  assert.notEqual(a(), b());
});

test('queueIdTime rejects strings that are not queue ids', () => {
  assert.equal(queueIdTime('short'), undefined);
  assert.equal(queueIdTime('U'.repeat(QUEUE_ID_LENGTH)), undefined);
});
