// Tests the per-agent log token bucket with an injected clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogLimiter } from './quickjs-log-limiter.ts';

test('a burst is let through, then lines are dropped until tokens come back', () => {
  let now = 0;
  const limiter = new LogLimiter({ burst: 3, perSecond: 2 }, () => now);
  assert.deepEqual([limiter.take(), limiter.take(), limiter.take()], [0, 0, 0]);
  assert.equal(limiter.take(), -1);
  assert.equal(limiter.take(), -1);
  now = 400; // 0.8 of a token: still nothing
  assert.equal(limiter.take(), -1);
  now = 600; // 1.2 tokens since the start of the drought
  assert.equal(limiter.take(), 3, 'the first accepted line reports the three dropped before it');
  assert.equal(limiter.take(), -1);
});

test('tokens never accumulate past the burst', () => {
  let now = 0;
  const limiter = new LogLimiter({ burst: 2, perSecond: 100 }, () => now);
  now = 60_000;
  assert.deepEqual([limiter.take(), limiter.take(), limiter.take()], [0, 0, -1]);
});

test('a bad rate names the field', () => {
  assert.throws(() => new LogLimiter({ burst: 0, perSecond: 1 }), /logRate\.burst/);
  assert.throws(() => new LogLimiter({ burst: 5, perSecond: Number.NaN }), /logRate\.perSecond/);
});
