// Tests for group commit: concurrent callers share write + fdatasync rounds, and each waits for its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeEnvelope, messageFor, openStore, withTempDir } from './journal-test-kit.ts';

test('accepts submitted together go out in one flush and all resolve', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir });
    const envelopes = Array.from({ length: 200 }, () => makeEnvelope());
    await Promise.all(envelopes.map((e) => store.accept(e, [messageFor(e.id)])));
    const stats = store.journalStats();
    assert.equal(stats.messages, 200);
    assert.equal(stats.records, 200);
    assert.equal(stats.flushes, 1);
    await store.close();
  });
});

test('16 callers accepting in a loop share flushes', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir });
    const perCaller = 20;
    const callers = Array.from({ length: 16 }, async () => {
      for (let i = 0; i < perCaller; i++) {
        const envelope = makeEnvelope();
        await store.accept(envelope, [messageFor(envelope.id)]);
      }
    });
    await Promise.all(callers);
    const stats = store.journalStats();
    assert.equal(stats.records, 16 * perCaller);
    // One flush per accept would be 320; batching keeps it near one per round of callers.
    assert.ok(stats.flushes <= (16 * perCaller) / 4, `${stats.flushes} flushes`);
    await store.close();
  });
});

test('updates and completes ride in the same flushes as accepts', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir });
    const first = Array.from({ length: 20 }, () => makeEnvelope());
    await Promise.all(first.map((e) => store.accept(e, [messageFor(e.id)])));
    const claims = await store.claim(Date.now(), 20, 60_000);
    const before = store.journalStats().flushes;
    const second = Array.from({ length: 20 }, () => makeEnvelope());
    await Promise.all([
      ...second.map((e) => store.accept(e, [messageFor(e.id)])),
      ...claims.slice(0, 10).map((c) => store.complete(c.lease)),
      ...claims.slice(10).map((c) => store.update(c.lease, { ...c.state, attempts: 1 })),
    ]);
    assert.equal(store.journalStats().flushes - before, 1);
    assert.equal(store.stats().messages, 30);
    await store.close();
  });
});
