import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureAdminToken, TokenStore, TokenStoreError } from './token-store.ts';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-tokens-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('first start makes an admin token: plaintext in admin.token, only its hash in api-tokens.json, both mode 0600', async () => {
  await withDir(async (dir) => {
    const first = await ensureAdminToken(dir);
    assert.deepEqual(first, { tokenFile: path.join(dir, 'admin.token'), created: true });
    const token = (await readFile(first.tokenFile, 'utf8')).trim();
    assert.match(token, /^sluice_[A-Za-z0-9_-]{43}$/);
    const stored = await readFile(path.join(dir, 'api-tokens.json'), 'utf8');
    assert.ok(!stored.includes(token), 'the store must not hold the plaintext');
    assert.equal(JSON.parse(stored).tokens[0].role, 'admin');
    if (process.platform !== 'win32') {
      assert.equal((await stat(first.tokenFile)).mode & 0o777, 0o600);
      assert.equal((await stat(path.join(dir, 'api-tokens.json'))).mode & 0o777, 0o600);
    }
    const store = await TokenStore.open(dir);
    assert.equal(store.verify(token)?.role, 'admin');
    assert.equal(store.verify(`${token}x`), undefined);
    assert.equal(store.verify(''), undefined);
  });
});

test('a later start keeps the existing admin token', async () => {
  await withDir(async (dir) => {
    const first = await ensureAdminToken(dir);
    const token = await readFile(first.tokenFile, 'utf8');
    assert.equal((await ensureAdminToken(dir)).created, false);
    assert.equal(await readFile(first.tokenFile, 'utf8'), token);
  });
});

test('when every admin token was revoked the next start makes a new one', async () => {
  await withDir(async (dir) => {
    await ensureAdminToken(dir);
    const store = await TokenStore.open(dir);
    const old = (await readFile(path.join(dir, 'admin.token'), 'utf8')).trim();
    await store.revoke(store.list()[0]!.id);
    const again = await ensureAdminToken(dir);
    assert.equal(again.created, true);
    const fresh = (await readFile(again.tokenFile, 'utf8')).trim();
    assert.notEqual(fresh, old);
    const reopened = await TokenStore.open(dir);
    assert.equal(reopened.verify(old), undefined);
    assert.equal(reopened.verify(fresh)?.name, 'admin');
  });
});

test('read-only tokens: made once, verified, names unique, revoked for good', async () => {
  await withDir(async (dir) => {
    const store = await TokenStore.open(dir);
    const { token, info } = await store.create({ name: 'grafana', role: 'read-only' });
    assert.equal(store.verify(token)?.id, info.id);
    await assert.rejects(store.create({ name: 'grafana', role: 'admin' }), (e: unknown) => e instanceof TokenStoreError && e.code === 'DUPLICATE_NAME' && e.field === 'name');
    await assert.rejects(store.create({ name: 'bad name', role: 'admin' }), (e: unknown) => e instanceof TokenStoreError && e.code === 'INVALID_NAME');
    await store.revoke(info.id);
    assert.equal(store.verify(token), undefined);
    assert.equal((await TokenStore.open(dir)).verify(token), undefined);
    await assert.rejects(store.revoke(info.id), (e: unknown) => e instanceof TokenStoreError && e.code === 'UNKNOWN_TOKEN');
  });
});

test('a corrupt token file is refused with its path and the bad field', async () => {
  await withDir(async (dir) => {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path.join(dir, 'api-tokens.json'), JSON.stringify({ version: 1, tokens: [{ id: 'tok_000000000000', name: 'x', role: 'root', createdAt: 1, sha256: '0'.repeat(64) }] }));
    await assert.rejects(TokenStore.open(dir), (e: unknown) => e instanceof TokenStoreError && e.code === 'CORRUPT_STORE' && /tokens\.0\.role/.test(e.message));
  });
});
