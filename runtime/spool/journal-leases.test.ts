// Tests for claiming with leases: exclusive while held, reclaimable once expired, stale leases refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeliveryState } from './store.ts';
import { makeEnvelope, messageFor, openStore, withTempDir } from './journal-test-kit.ts';

const T0 = 1_700_000_000_000;

function deferred(at: number): DeliveryState {
  return { attempts: 1, nextAttemptAt: at, recipients: [{ state: 'pending' }, { state: 'pending' }] };
}

test('a leased message is not claimed again while the lease holds', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir, now: () => T0 });
    const envelope = makeEnvelope({ receivedAt: T0 });
    await store.accept(envelope, [messageFor(envelope.id)]);
    const first = await store.claim(T0, 10, 30_000);
    assert.equal(first.length, 1);
    assert.equal(first[0]!.lease.expiresAt, T0 + 30_000);
    assert.deepEqual(await store.claim(T0, 10, 30_000), []);
    assert.deepEqual(await store.claim(T0 + 29_999, 10, 30_000), []);
    await store.close();
  });
});

test('a message whose lease expired can be claimed again, and the old lease is then refused', async () => {
  await withTempDir(async (dir) => {
    let clock = T0;
    const store = await openStore({ dir, now: () => clock });
    const envelope = makeEnvelope({ receivedAt: T0 });
    await store.accept(envelope, [messageFor(envelope.id)]);
    const [stale] = await store.claim(T0, 1, 30_000);
    clock = T0 + 30_000;
    const [fresh] = await store.claim(clock, 1, 30_000);
    assert.ok(fresh, 'expired lease makes the message claimable');
    assert.notEqual(fresh.lease.token, stale!.lease.token);
    await assert.rejects(store.update(stale!.lease, deferred(T0)), { code: 'LEASE_LOST' });
    await assert.rejects(store.complete(stale!.lease), { code: 'LEASE_LOST' });
    await store.complete(fresh.lease);
    assert.equal(store.stats().messages, 0);
    await store.close();
  });
});

test('an expired lease is refused even if nobody claimed the message since', async () => {
  await withTempDir(async (dir) => {
    let clock = T0;
    const store = await openStore({ dir, now: () => clock });
    const envelope = makeEnvelope({ receivedAt: T0 });
    await store.accept(envelope, [messageFor(envelope.id)]);
    const [claim] = await store.claim(T0, 1, 1000);
    clock = T0 + 1000;
    await assert.rejects(store.update(claim!.lease, deferred(T0 + 5000)), { code: 'LEASE_LOST' });
    await assert.rejects(store.complete(claim!.lease), { code: 'LEASE_LOST' });
    assert.equal(store.stats().messages, 1);
    await store.close();
  });
});

test('a lease is spent by update: a second update or a complete with it is refused', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir, now: () => T0 });
    const envelope = makeEnvelope({ receivedAt: T0 });
    await store.accept(envelope, [messageFor(envelope.id)]);
    const [claim] = await store.claim(T0, 1, 30_000);
    await store.update(claim!.lease, deferred(T0 + 60_000));
    await assert.rejects(store.update(claim!.lease, deferred(T0)), { code: 'LEASE_LOST' });
    await assert.rejects(store.complete(claim!.lease), { code: 'LEASE_LOST' });
    await store.close();
  });
});

test('concurrent update and complete on one lease: exactly one wins', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir, now: () => T0 });
    const envelope = makeEnvelope({ receivedAt: T0 });
    await store.accept(envelope, [messageFor(envelope.id)]);
    const [claim] = await store.claim(T0, 1, 30_000);
    const results = await Promise.allSettled([store.update(claim!.lease, deferred(T0)), store.complete(claim!.lease)]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    await store.close();
  });
});

test('a forged token is refused', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir, now: () => T0 });
    const envelope = makeEnvelope({ receivedAt: T0 });
    await store.accept(envelope, [messageFor(envelope.id)]);
    const [claim] = await store.claim(T0, 1, 30_000);
    await assert.rejects(store.complete({ ...claim!.lease, token: 'guess' }), { code: 'LEASE_LOST' });
    await store.close();
  });
});

test('claim returns due messages oldest first, up to max, and leaves the rest', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir, now: () => T0 });
    const ages = [5, 1, 4, 2, 3];
    const ids = new Map<number, string>();
    for (const age of ages) {
      const envelope = makeEnvelope({ receivedAt: T0 - age * 1000 });
      ids.set(age, envelope.id);
      await store.accept(envelope, [messageFor(envelope.id)]);
    }
    const future = makeEnvelope({ receivedAt: T0 + 60_000 });
    await store.accept(future, [messageFor(future.id)]);
    const first = await store.claim(T0, 3, 120_000);
    assert.deepEqual(first.map((c) => c.envelope.id), [ids.get(5), ids.get(4), ids.get(3)]);
    const rest = await store.claim(T0, 10, 120_000);
    assert.deepEqual(rest.map((c) => c.envelope.id), [ids.get(2), ids.get(1)]);
    const later = await store.claim(T0 + 60_000, 10, 120_000);
    assert.deepEqual(later.map((c) => c.envelope.id), [future.id]);
    assert.equal(store.nextDueAt(), T0 + 120_000, 'the first leases run out next');
    await store.close();
  });
});

test('claims hand out copies: changing them does not change the spool', async () => {
  await withTempDir(async (dir) => {
    let clock = T0;
    const store = await openStore({ dir, now: () => clock });
    const envelope = makeEnvelope({ receivedAt: T0 });
    await store.accept(envelope, [messageFor(envelope.id)]);
    const [claim] = await store.claim(T0, 1, 1000);
    claim!.envelope.recipients.pop();
    claim!.state.attempts = 99;
    clock = T0 + 1000;
    const [again] = await store.claim(clock, 1, 1000);
    assert.equal(again!.envelope.recipients.length, 2);
    assert.equal(again!.state.attempts, 0);
    await store.close();
  });
});

test('a state that does not match the envelope is refused and the lease stays usable', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir, now: () => T0 });
    const envelope = makeEnvelope({ receivedAt: T0 });
    await store.accept(envelope, [messageFor(envelope.id)]);
    const [claim] = await store.claim(T0, 1, 30_000);
    const wrong = { attempts: 1, nextAttemptAt: T0, recipients: [{ state: 'pending' as const }] };
    await assert.rejects(store.update(claim!.lease, wrong), { code: 'SPOOL_IO' });
    await store.update(claim!.lease, deferred(T0 + 1));
    await store.close();
  });
});
