import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createSignedBundle } from '../../sdk/bundle/build-bundle.ts';
import { agentCode, draftManifest } from '../../sdk/bundle/bundle-test-kit.ts';
import { generateKeyPair } from '../../sdk/bundle/signing.ts';
import { call, startTestApi, type TestApi } from './api-test-kit.ts';

async function withApi(fn: (api: TestApi) => Promise<void>): Promise<void> {
  const api = await startTestApi();
  try {
    await fn(api);
  } finally {
    await api.close();
  }
}

test('keys: add (201, persisted in the trust store file), list, revoke, remove', async () => {
  await withApi(async (api) => {
    const pair = generateKeyPair();
    const added = await call(api, 'POST', '/v1/keys', { json: { publicKey: pair.publicKey, vendors: ['acme', 'acme-labs'] } });
    assert.equal(added.status, 201);
    assert.equal(added.json.keyId, pair.keyId);
    assert.equal(added.headers.get('location'), `/v1/keys/${pair.keyId}`);
    const file = JSON.parse(await readFile(path.join(api.dataDir, 'agents', 'trusted-keys.json'), 'utf8'));
    assert.equal(file.keys[0].keyId, pair.keyId);

    const listed = await call(api, 'GET', '/v1/keys');
    assert.deepEqual(listed.json.keys.map((k: { keyId: string; vendors: string[]; revoked: boolean }) => [k.keyId, k.vendors, k.revoked]), [[pair.keyId, ['acme', 'acme-labs'], false]]);

    const revoked = await call(api, 'POST', `/v1/keys/${pair.keyId}/revoke`);
    assert.equal(revoked.status, 200);
    assert.equal(revoked.json.revoked, true);
    assert.equal(api.trust.keyFor(pair.keyId)?.revoked, true);

    assert.equal((await call(api, 'DELETE', `/v1/keys/${pair.keyId}`)).status, 204);
    assert.deepEqual((await call(api, 'GET', '/v1/keys')).json.keys, []);
    const again = await call(api, 'DELETE', `/v1/keys/${pair.keyId}`);
    assert.deepEqual([again.status, again.json.code], [404, 'UNKNOWN_KEY']);
    assert.deepEqual(
      (await api.auditLines()).map((l) => `${l.action} ${l.target} ${l.outcome}`),
      [`keys.add ${pair.keyId} ok`, `keys.revoke ${pair.keyId} ok`, `keys.remove ${pair.keyId} ok`, `keys.remove ${pair.keyId} error`],
    );
  });
});

test('revoking the key that signed an installed agent blocks the agent', async () => {
  await withApi(async (api) => {
    const pair = generateKeyPair();
    await call(api, 'POST', '/v1/keys', { json: { publicKey: pair.publicKey, vendors: ['acme'] } });
    const bundle = createSignedBundle({ manifest: draftManifest(), code: agentCode, privateKey: pair.privateKey });
    assert.equal((await call(api, 'POST', '/v1/agents', { body: bundle, contentType: 'application/octet-stream' })).status, 201);
    await call(api, 'POST', `/v1/keys/${pair.keyId}/revoke`, { json: {} });
    assert.match((await call(api, 'GET', '/v1/agents/acme/greylist')).json.blocked, /REVOKED_KEY/);
    const enable = await call(api, 'POST', '/v1/agents/acme/greylist/enable');
    assert.equal(enable.status, 422);
  });
});

test('bad keys are refused naming the field; a duplicate is 409', async () => {
  await withApi(async (api) => {
    const short = await call(api, 'POST', '/v1/keys', { json: { publicKey: Buffer.alloc(16).toString('base64'), vendors: ['acme'] } });
    assert.deepEqual([short.status, short.json.field], [422, 'publicKey']);
    const pair = generateKeyPair();
    const vendors = await call(api, 'POST', '/v1/keys', { json: { publicKey: pair.publicKey, vendors: ['Acme!'] } });
    assert.deepEqual([vendors.status, vendors.json.field], [422, 'vendors[0]']);
    const none = await call(api, 'POST', '/v1/keys', { json: { publicKey: pair.publicKey, vendors: [] } });
    assert.deepEqual([none.status, none.json.field], [422, 'vendors']);
    const missing = await call(api, 'POST', '/v1/keys', { json: { vendors: ['acme'] } });
    assert.deepEqual([missing.status, missing.json.field], [422, 'publicKey']);
    assert.equal((await call(api, 'POST', '/v1/keys', { json: { publicKey: pair.publicKey, vendors: ['acme'] } })).status, 201);
    const dup = await call(api, 'POST', '/v1/keys', { json: { publicKey: pair.publicKey, vendors: ['other'] } });
    assert.deepEqual([dup.status, dup.json.code], [409, 'DUPLICATE_KEY']);
    const badId = await call(api, 'POST', '/v1/keys/not-a-key/revoke');
    assert.deepEqual([badId.status, badId.json.field], [404, 'keyId']);
  });
});
