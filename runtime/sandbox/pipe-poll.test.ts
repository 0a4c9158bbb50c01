// When to poll the sandbox host's pipe: one empty window is forgiven, empty windows in a row pause polling longer each time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PollBackoff } from './pipe-poll.ts';

/** How many tries in a row `shouldPoll` refuses. */
function paused(b: PollBackoff): number {
  let n = 0;
  while (!b.shouldPoll()) n++;
  return n;
}

test('one empty poll is a hiccup; a second in a row pauses 8 tries, then 16, 32 … up to 4,096; a find resets it', () => {
  const b = new PollBackoff();
  b.record(false);
  assert.equal(paused(b), 0, 'one miss: no pause');
  b.record(false);
  assert.equal(paused(b), 8);
  b.record(false);
  assert.equal(paused(b), 16);
  for (let i = 0; i < 20; i++) {
    b.record(false);
    paused(b);
  }
  b.record(false);
  assert.equal(paused(b), 4096, 'capped');
  b.record(true);
  b.record(false);
  assert.equal(paused(b), 0, 'after a find, one miss is a hiccup again');
  b.record(false);
  assert.equal(paused(b), 8, 'and the pause starts over');
});
