// Tests for the journal store's basic contract: accept, claim, read, update, complete, reopen, close.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JournalStore } from './journal-store.ts';
import { SpoolError } from './spool-error.ts';
import { captureLog, makeEnvelope, messageFor, openStore, withTempDir } from './journal-test-kit.ts';

test('accept then claim then read returns the exact bytes, given in several chunks', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir });
    const envelope = makeEnvelope();
    const all = new Uint8Array(3000).map((_, i) => (i * 7) & 0xff);
    await store.accept(envelope, [all.subarray(0, 1), all.subarray(1, 1000), all.subarray(1000)]);
    const claims = await store.claim(Date.now(), 10, 60_000);
    assert.equal(claims.length, 1);
    assert.deepEqual(claims[0]!.envelope, envelope);
    assert.deepEqual(claims[0]!.state, {
      attempts: 0,
      nextAttemptAt: envelope.receivedAt,
      recipients: [{ state: 'pending' }, { state: 'pending' }],
    });
    assert.deepEqual(await store.read(envelope.id), all);
    assert.deepEqual(store.stats(), { messages: 1, bytes: 3000 });
    await store.close();
  });
});

test('an accepted message survives close and reopen', async () => {
  await withTempDir(async (dir) => {
    const first = await openStore({ dir });
    const envelope = makeEnvelope();
    await first.accept(envelope, [messageFor(envelope.id)]);
    await first.close();
    const second = new JournalStore({ dir });
    const report = await second.open();
    assert.deepEqual(report, { recovered: 1, quarantined: [] });
    assert.deepEqual(await second.read(envelope.id), messageFor(envelope.id));
    const [claim] = await second.claim(Date.now(), 10, 1000);
    assert.deepEqual(claim?.envelope, envelope);
    await second.close();
  });
});

test('an accepted message survives a store that is dropped without close', async () => {
  await withTempDir(async (dir) => {
    const crashed = await openStore({ dir });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const envelope = makeEnvelope();
      await crashed.accept(envelope, [messageFor(envelope.id, 200 + i)]);
      ids.push(envelope.id);
    }
    const reopened = await openStore({ dir });
    assert.equal(reopened.stats().messages, 5);
    for (const [i, id] of ids.entries()) assert.deepEqual(await reopened.read(id), messageFor(id, 200 + i));
    await reopened.close();
    await crashed.close(); // only to release its file handles
  });
});

test('update records a new state and ends the lease; reopen sees the state', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir });
    const envelope = makeEnvelope();
    await store.accept(envelope, [messageFor(envelope.id)]);
    const [claim] = await store.claim(Date.now(), 1, 60_000);
    const later = Date.now() + 3_600_000;
    const state = {
      attempts: 1,
      nextAttemptAt: later,
      recipients: [{ state: 'delivered', at: 1, reply: '250 ok' }, { state: 'pending', lastReply: '451 try later' }],
    } as const;
    await store.update(claim!.lease, structuredClone(state) as never);
    assert.deepEqual(await store.claim(Date.now(), 1, 60_000), []);
    await store.close();

    const reopened = await openStore({ dir });
    assert.deepEqual(await reopened.claim(Date.now(), 1, 60_000), []);
    const [again] = await reopened.claim(later, 1, 60_000);
    assert.deepEqual(again?.state, state);
    await reopened.close();
  });
});

test('a completed message is gone, and stays gone after reopen', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir });
    const done = makeEnvelope();
    const kept = makeEnvelope();
    await store.accept(done, [messageFor(done.id)]);
    await store.accept(kept, [messageFor(kept.id)]);
    const claims = await store.claim(Date.now(), 10, 60_000);
    await store.complete(claims.find((c) => c.envelope.id === done.id)!.lease);
    await assert.rejects(store.read(done.id), { code: 'NOT_FOUND' });
    assert.equal(store.stats().messages, 1);
    await store.close();

    const reopened = await openStore({ dir });
    assert.equal(reopened.stats().messages, 1);
    await assert.rejects(reopened.read(done.id), { code: 'NOT_FOUND' });
    assert.deepEqual(await reopened.read(kept.id), messageFor(kept.id));
    await reopened.close();
  });
});

test('subscribers hear about accepts and messages that are due again, after the fact', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir });
    let calls = 0;
    const unsubscribe = store.subscribe(() => calls++);
    const envelope = makeEnvelope();
    const accepted = store.accept(envelope, [messageFor(envelope.id)]);
    assert.equal(calls, 0);
    await accepted;
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(calls, 1);

    const [claim] = await store.claim(Date.now(), 1, 60_000);
    const pending = [{ state: 'pending' }, { state: 'pending' }] as const;
    await store.update(claim!.lease, { attempts: 1, nextAttemptAt: Date.now() + 60_000, recipients: [...pending] });
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(calls, 1, 'a deferred message is not due');

    const [deferred] = await store.claim(Date.now() + 60_000, 1, 60_000);
    await store.update(deferred!.lease, { attempts: 2, nextAttemptAt: 0, recipients: [...pending] });
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(calls, 2);
    unsubscribe();
    await store.close();
  });
});

test('an envelope that fails the schema is refused and nothing is spooled', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir });
    const bad = makeEnvelope({ recipients: [] });
    await assert.rejects(store.accept(bad, [messageFor(bad.id)]), (err: unknown) => {
      assert.ok(err instanceof SpoolError);
      assert.equal(err.code, 'SPOOL_IO');
      assert.match(err.message, /recipients/);
      return true;
    });
    assert.equal(store.stats().messages, 0);
    await store.close();
  });
});

test('accepting a queue id that is already spooled is refused', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir });
    const envelope = makeEnvelope();
    await store.accept(envelope, [messageFor(envelope.id)]);
    await assert.rejects(store.accept(envelope, [messageFor(envelope.id)]), { code: 'SPOOL_IO' });
    await store.close();
  });
});

test('close flushes accepts in flight, then every call rejects with SPOOL_CLOSED', async () => {
  await withTempDir(async (dir) => {
    const { log } = captureLog();
    const store = await openStore({ dir, log });
    const envelope = makeEnvelope();
    const inFlight = store.accept(envelope, [messageFor(envelope.id)]);
    const [claim] = await Promise.all([store.claim(Date.now(), 1, 1000), inFlight, store.close()]);
    assert.deepEqual(claim, []);
    const closed = { code: 'SPOOL_CLOSED' };
    const other = makeEnvelope();
    await assert.rejects(store.accept(other, [messageFor(other.id)]), closed);
    await assert.rejects(store.claim(Date.now(), 1, 1000), closed);
    await assert.rejects(store.read(envelope.id), closed);
    const lease = { id: envelope.id, token: 'x', expiresAt: Date.now() + 1000 };
    await assert.rejects(store.update(lease, { attempts: 0, nextAttemptAt: 0, recipients: [] }), closed);
    await assert.rejects(store.complete(lease), closed);
    await store.close();

    const reopened = await openStore({ dir });
    assert.deepEqual(await reopened.read(envelope.id), messageFor(envelope.id));
    await reopened.close();
  });
});

test('a store that was never opened refuses work', async () => {
  const store = new JournalStore({ dir: '/nonexistent/never-used' });
  const envelope = makeEnvelope();
  await assert.rejects(store.accept(envelope, [messageFor(envelope.id)]), { code: 'SPOOL_CLOSED' });
  await store.close();
});
