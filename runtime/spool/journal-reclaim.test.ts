// Tests for segment rollover and reclamation: old segments go, long-lived messages move, nothing comes back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Envelope } from './envelope.ts';
import type { JournalStore } from './journal-store.ts';
import { makeEnvelope, messageFor, openStore, segmentFiles, waitFor, withTempDir } from './journal-test-kit.ts';

const SEGMENT = 4096;

async function acceptMany(store: JournalStore, count: number, size = 600): Promise<Envelope[]> {
  const envelopes = Array.from({ length: count }, () => makeEnvelope());
  for (const e of envelopes) await store.accept(e, [messageFor(e.id, size)]);
  return envelopes;
}

test('segments roll over at segmentBytes', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir, segmentBytes: SEGMENT });
    await acceptMany(store, 30);
    const files = await segmentFiles(dir);
    assert.ok(files.length >= 5, `${files.length} segments`);
    assert.equal(files[0], '00000001.log');
    assert.equal(store.journalStats().segments, files.length);
    await store.close();
  });
});

test('once every message in them is complete, old segments are deleted and nothing comes back', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir, segmentBytes: SEGMENT });
    const envelopes = await acceptMany(store, 40);
    const created = (await segmentFiles(dir)).length;
    const claims = await store.claim(Date.now(), 100, 60_000);
    assert.equal(claims.length, 40);
    await Promise.all(claims.map((c) => store.complete(c.lease)));
    await waitFor(() => store.journalStats().segments === 1);
    const left = await segmentFiles(dir);
    assert.equal(left.length, 1, `left: ${left.join(', ')} of ${created}`);
    assert.equal(store.journalStats().messagesMoved, 0);
    await store.close();

    const reopened = await openStore({ dir, segmentBytes: SEGMENT });
    assert.equal(reopened.stats().messages, 0);
    for (const e of envelopes) await assert.rejects(reopened.read(e.id), { code: 'NOT_FOUND' });
    await reopened.close();
  });
});

test('a segment is kept while an older one still holds live messages', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir, segmentBytes: SEGMENT });
    // The first segment is pinned by a live message too big to be worth moving: over half a segment,
    // and more than half of the dead bytes behind it.
    const early = await acceptMany(store, 1, 3800);
    const late = await acceptMany(store, 10, 200);
    const lateIds = new Set(late.map((e) => e.id));
    const claims = await store.claim(Date.now(), 100, 60_000);
    await Promise.all(claims.filter((c) => lateIds.has(c.envelope.id)).map((c) => store.complete(c.lease)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The later segments hold nothing live, but their DONE records must outlive the first segment.
    const files = await segmentFiles(dir);
    assert.ok(files.length >= 3, 'a dead segment sits between the pinned one and the active one');
    assert.equal(files[0], '00000001.log');
    assert.equal(store.journalStats().segmentsDeleted, 0);
    assert.equal(store.journalStats().messagesMoved, 0);
    await store.close();

    const reopened = await openStore({ dir, segmentBytes: SEGMENT });
    assert.equal(reopened.stats().messages, early.length);
    for (const e of late) await assert.rejects(reopened.read(e.id), { code: 'NOT_FOUND' });
    await reopened.close();
  });
});

test('a long-deferred message pinning the oldest segment is moved forward and survives reopen', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir, segmentBytes: SEGMENT });
    const [pinned] = await acceptMany(store, 1, 300);
    const rest = await acceptMany(store, 40);
    const later = Date.now() + 86_400_000;
    const claims = await store.claim(Date.now(), 100, 60_000);
    const deferredState = {
      attempts: 1,
      nextAttemptAt: later,
      recipients: [{ state: 'delivered' as const, at: 5, reply: '250 2.0.0 ok' }, {
        state: 'pending' as const,
        lastReply: '451 4.4.1 later',
      }],
    };
    await Promise.all(
      claims.map((
        c,
      ) => (c.envelope.id === pinned!.id ? store.update(c.lease, deferredState) : store.complete(c.lease))),
    );
    await waitFor(() => store.journalStats().segments === 1);
    assert.equal(store.journalStats().messagesMoved, 1);
    assert.deepEqual(await store.read(pinned!.id), messageFor(pinned!.id, 300));
    const files = await segmentFiles(dir);
    assert.equal(files.length, 1);
    assert.notEqual(files[0], '00000001.log');
    await store.close();

    const reopened = await openStore({ dir, segmentBytes: SEGMENT });
    assert.equal(reopened.stats().messages, 1);
    assert.deepEqual(await reopened.read(pinned!.id), messageFor(pinned!.id, 300));
    assert.deepEqual(await reopened.claim(Date.now(), 10, 1000), []);
    const [claim] = await reopened.claim(later, 10, 1000);
    assert.deepEqual(claim?.envelope, pinned);
    assert.deepEqual(claim?.state, deferredState);
    for (const e of rest) await assert.rejects(reopened.read(e.id), { code: 'NOT_FOUND' });
    await reopened.close();
  });
});

test('a moved message can still be updated and completed, and then stays gone', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir, segmentBytes: SEGMENT });
    const [pinned] = await acceptMany(store, 1, 300);
    await acceptMany(store, 30);
    const claims = await store.claim(Date.now(), 100, 60_000);
    const held = claims.find((c) => c.envelope.id === pinned!.id)!;
    await Promise.all(claims.filter((c) => c !== held).map((c) => store.complete(c.lease)));
    // The pinned message is leased (not busy): it may move while its lease is out.
    await waitFor(() => store.journalStats().messagesMoved === 1 && store.journalStats().segments === 1);
    await store.complete(held.lease);
    await store.close();

    const reopened = await openStore({ dir, segmentBytes: SEGMENT });
    assert.equal(reopened.stats().messages, 0);
    await reopened.close();
  });
});

test('reclamation goes on across a reopen: empty old segments are deleted at open', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir, segmentBytes: SEGMENT });
    await acceptMany(store, 30);
    const claims = await store.claim(Date.now(), 100, 60_000);
    // Close right after completing: the background pass may not have run yet.
    await Promise.all(claims.map((c) => store.complete(c.lease)));
    await store.close();

    const reopened = await openStore({ dir, segmentBytes: SEGMENT });
    await waitFor(() => reopened.journalStats().segments === 1);
    assert.equal((await segmentFiles(dir)).length, 1);
    assert.equal(reopened.stats().messages, 0);
    await reopened.close();
  });
});

test('a big long-lived message is moved once the dead bytes it holds back reach twice its size', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir, segmentBytes: SEGMENT });
    // Over half a segment: not worth moving for its own segment's sake.
    const [big] = await acceptMany(store, 1, 3000);
    const [first] = await store.claim(Date.now(), 1, 60_000);
    const later = Date.now() + 86_400_000;
    await store.update(first!.lease, { ...first!.state, attempts: 1, nextAttemptAt: later });
    const { segmentsDeleted } = store.journalStats();
    let rounds = 0;
    while (store.journalStats().messagesMoved === 0 && rounds++ < 20) {
      const batch = await acceptMany(store, 4);
      const claims = await store.claim(Date.now(), 100, 60_000);
      assert.equal(claims.length, batch.length);
      await Promise.all(claims.map((c) => store.complete(c.lease)));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal(store.journalStats().messagesMoved, 1, 'moved once enough garbage piled up');
    assert.ok(rounds > 1, 'but not before');
    await waitFor(() => store.journalStats().segmentsDeleted > segmentsDeleted + 2);
    await store.close();

    const reopened = await openStore({ dir, segmentBytes: SEGMENT });
    assert.equal(reopened.stats().messages, 1);
    assert.deepEqual(await reopened.read(big!.id), messageFor(big!.id, 3000));
    await reopened.close();
  });
});
