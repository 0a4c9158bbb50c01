import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionTimer } from './session-timer.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a deadline expires even while input keeps arriving', async () => {
  let expired = 0;
  const t = new SessionTimer(() => expired++);
  t.deadline(120);
  for (let i = 0; i < 8; i++) {
    await sleep(25);
    t.activity();
  }
  assert.equal(expired, 1);
});

test('the idle limit restarts with every input and expires after silence', async () => {
  let expired = 0;
  const t = new SessionTimer(() => expired++);
  t.idle(400);
  for (let i = 0; i < 15; i++) {
    await sleep(30);
    t.activity();
  }
  assert.equal(expired, 0, 'activity kept it alive');
  await sleep(700);
  assert.equal(expired, 1);
});

test('a later deadline replaces an earlier one, null clears it, stop() ends everything', async () => {
  let expired = 0;
  const t = new SessionTimer(() => expired++);
  t.deadline(40);
  t.deadline(2000);
  await sleep(100);
  assert.equal(expired, 0, 'the first deadline was replaced');
  t.deadline(null);
  await sleep(150);
  assert.equal(expired, 0, 'cleared');
  t.deadline(30);
  t.stop();
  await sleep(80);
  assert.equal(expired, 0, 'stopped');
});

test('an earlier deadline re-arms the timer sooner', async () => {
  let expired = 0;
  const t = new SessionTimer(() => expired++);
  t.deadline(1000);
  t.deadline(30);
  await sleep(120);
  assert.equal(expired, 1);
});
