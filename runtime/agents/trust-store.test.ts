import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createSignedBundle } from '../../sdk/bundle/build-bundle.ts';
import { agentCode, draftManifest } from '../../sdk/bundle/bundle-test-kit.ts';
import { generateKeyPair } from '../../sdk/bundle/signing.ts';
import { openBundle } from '../../sdk/bundle/verify-bundle.ts';
import { TrustStore, TrustStoreError } from './trust-store.ts';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-trust-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const rejectsWith = (code: string) => (e: unknown) => e instanceof TrustStoreError && e.code === code;

test('persists added, revoked and removed keys across reopen', () =>
  withDir(async (dir) => {
    const file = path.join(dir, 'trust.json');
    const a = generateKeyPair();
    const b = generateKeyPair();
    const store = await TrustStore.open(file, { now: () => 1000 });
    assert.deepEqual(store.list(), []);
    const added = await store.addKey({ publicKey: a.publicKey, vendors: ['acme'] });
    assert.deepEqual(added, { keyId: a.keyId, publicKey: a.publicKey, vendors: ['acme'], revoked: false, addedAt: 1000 });
    await store.addKey({ publicKey: b.publicKey, vendors: ['globex', 'initech'] });
    await store.revokeKey(b.keyId);

    const reopened = await TrustStore.open(file);
    assert.deepEqual(reopened.list(), store.list());
    assert.deepEqual(reopened.keyFor(b.keyId), { publicKey: b.publicKey, vendors: ['globex', 'initech'], revoked: true });
    assert.equal(reopened.keyFor('nope'), undefined);

    await reopened.removeKey(a.keyId);
    const again = await TrustStore.open(file);
    assert.deepEqual(again.list().map((k) => k.keyId), [b.keyId]);
    assert.deepEqual(await readdir(dir), ['trust.json']); // no temporary files left behind
  }));

test('refuses duplicate and malformed keys and unknown ids, leaving the file unchanged', () =>
  withDir(async (dir) => {
    const file = path.join(dir, 'trust.json');
    const a = generateKeyPair();
    const store = await TrustStore.open(file);
    await store.addKey({ publicKey: a.publicKey, vendors: ['acme'] });
    const before = await readFile(file, 'utf8');
    await assert.rejects(store.addKey({ publicKey: a.publicKey, vendors: ['other'] }), rejectsWith('DUPLICATE_KEY'));
    await assert.rejects(store.addKey({ publicKey: 'AAAA', vendors: ['acme'] }), rejectsWith('MALFORMED_KEY'));
    await assert.rejects(store.addKey({ publicKey: `${generateKeyPair().publicKey} `, vendors: ['acme'] }), rejectsWith('MALFORMED_KEY'));
    await assert.rejects(store.addKey({ publicKey: generateKeyPair().publicKey, vendors: [] }), rejectsWith('MALFORMED_KEY'));
    await assert.rejects(store.addKey({ publicKey: generateKeyPair().publicKey, vendors: ['Acme'] }), /vendors\.0: Invalid vendor/);
    await assert.rejects(store.addKey({ publicKey: generateKeyPair().publicKey, vendors: ['a', 'a'] }), rejectsWith('MALFORMED_KEY'));
    await assert.rejects(store.removeKey('nope'), rejectsWith('UNKNOWN_KEY'));
    await assert.rejects(store.revokeKey('nope'), rejectsWith('UNKNOWN_KEY'));
    assert.equal(await readFile(file, 'utf8'), before);
    assert.equal(store.list().length, 1);
  }));

test('serializes concurrent changes so none is lost', () =>
  withDir(async (dir) => {
    const file = path.join(dir, 'trust.json');
    const store = await TrustStore.open(file);
    const pairs = Array.from({ length: 8 }, () => generateKeyPair());
    await Promise.all(pairs.map((p) => store.addKey({ publicKey: p.publicKey, vendors: ['acme'] })));
    assert.equal((await TrustStore.open(file)).list().length, 8);
  }));

test('refuses a corrupt or tampered store file when opening it', () =>
  withDir(async (dir) => {
    const file = path.join(dir, 'trust.json');
    const a = generateKeyPair();
    const b = generateKeyPair();
    for (const text of [
      '{',
      '{"version":1,"keys":[],"keys":[]}',
      '{"version":2,"keys":[]}',
      JSON.stringify({ version: 1, keys: [{ keyId: b.keyId, publicKey: a.publicKey, vendors: ['acme'], revoked: false, addedAt: 0 }] }),
      JSON.stringify({ version: 1, keys: [0, 1].map(() => ({ keyId: a.keyId, publicKey: a.publicKey, vendors: ['acme'], revoked: false, addedAt: 0 })) }),
    ]) {
      await writeFile(file, text);
      await assert.rejects(TrustStore.open(file), rejectsWith('CORRUPT_STORE'), text);
    }
  }));

test('serves openBundle: a removed key makes its bundles UNKNOWN_KEY, a revoked one REVOKED_KEY', () =>
  withDir(async (dir) => {
    const vendor = generateKeyPair();
    const store = await TrustStore.open(path.join(dir, 'trust.json'));
    await store.addKey({ publicKey: vendor.publicKey, vendors: ['acme'] });
    const file = createSignedBundle({ manifest: draftManifest(), code: agentCode, privateKey: vendor.privateKey });
    assert.ok(openBundle(file, store).ok);
    await store.revokeKey(vendor.keyId);
    const revoked = openBundle(file, store);
    assert.ok(!revoked.ok && revoked.error.code === 'REVOKED_KEY');
    await store.removeKey(vendor.keyId);
    const removed = openBundle(file, store);
    assert.ok(!removed.ok && removed.error.code === 'UNKNOWN_KEY');
  }));
