// ctx.kv's store on the host side: real files in a temp dir, a fake clock only for TTLs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KV_LIMITS } from '../../sdk/context.ts';
import { CapabilityError } from './capability-error.ts';
import { acquireKvStore, KV_FILE, KvStore } from './capability-kv.ts';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'sluice-kv-'));
}

function limit(pattern: RegExp): (error: unknown) => boolean {
  return (error) => error instanceof CapabilityError && error.code === 'limit' && pattern.test(error.message);
}

test('set, get and delete, and everything is there again after reopening', async () => {
  const dir = await tempDir();
  try {
    const store = await KvStore.open(path.join(dir, 'agent'));
    assert.equal(store.get('a'), null);
    await store.set('a', '1');
    await store.set('b', 'zwei ✓');
    await store.set('a', '3');
    assert.equal(store.get('a'), '3');
    assert.equal(await store.delete('b'), true);
    assert.equal(await store.delete('b'), false);
    await store.close();
    const again = await KvStore.open(path.join(dir, 'agent'));
    assert.equal(again.get('a'), '3');
    assert.equal(again.get('b'), null);
    assert.equal(again.liveBytes, 2);
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a TTL is honoured on read and across reopening', async () => {
  const dir = await tempDir();
  let now = 1_000_000;
  try {
    const store = await KvStore.open(dir, { now: () => now });
    await store.set('short', 'x', 1000);
    await store.set('long', 'y', 60_000);
    now += 999;
    assert.equal(store.get('short'), 'x');
    now += 1;
    assert.equal(store.get('short'), null, 'expired exactly at its TTL');
    assert.equal(await store.delete('short'), false, 'deleting an expired key reports it absent');
    await store.close();
    const again = await KvStore.open(dir, { now: () => now });
    assert.equal(again.get('long'), 'y');
    now += 60_000;
    assert.equal(again.get('long'), null);
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a torn last line (a crash mid-write) is dropped and the rest is kept', async () => {
  const dir = await tempDir();
  try {
    const store = await KvStore.open(dir);
    await store.set('kept', 'yes');
    await store.close();
    await appendFile(path.join(dir, KV_FILE), '["s","torn","val');
    const again = await KvStore.open(dir);
    assert.equal(again.get('kept'), 'yes');
    assert.equal(again.get('torn'), null);
    await again.set('after', 'ok');
    await again.close();
    const text = await readFile(path.join(dir, KV_FILE), 'utf8');
    assert.ok(!text.includes('torn'), 'the file was rewritten without the torn line');
    const third = await KvStore.open(dir);
    assert.equal(third.get('after'), 'ok');
    await third.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a garbage line in the middle is skipped and the file is rewritten clean', async () => {
  const dir = await tempDir();
  try {
    await writeFile(path.join(dir, KV_FILE), '["s","a","1",null]\nnot json\n{"x":1}\n["s","b","2",null]\n');
    const store = await KvStore.open(dir);
    assert.equal(store.get('a'), '1');
    assert.equal(store.get('b'), '2');
    await store.close();
    assert.equal(await readFile(path.join(dir, KV_FILE), 'utf8'), '["s","a","1",null]\n["s","b","2",null]\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('overwrites are compacted away once the file is mostly garbage', async () => {
  const dir = await tempDir();
  try {
    const store = await KvStore.open(dir);
    const value = 'v'.repeat(60 * 1024);
    for (let i = 0; i < 40; i++) await store.set('same', `${i}:${value}`);
    const size = (await stat(path.join(dir, KV_FILE))).size;
    assert.ok(size < 1024 * 1024 + 3 * 62 * 1024, `file is ${size} bytes after 40 overwrites of one ~60 KiB key`);
    await store.close();
    const again = await KvStore.open(dir);
    assert.equal(again.get('same'), `39:${value}`);
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('keys over 256 bytes, empty keys and values over 64 KiB are refused with the limit named', async () => {
  const dir = await tempDir();
  try {
    const store = await KvStore.open(dir);
    assert.throws(() => store.get('k'.repeat(KV_LIMITS.keyBytes + 1)), limit(/^kv\.get: key is 257 bytes; the limit is 256$/));
    assert.throws(() => store.get(''), /kv\.get: key must not be empty/);
    assert.throws(() => store.set('é'.repeat(129), 'x'), limit(/key is 258 bytes/));
    assert.throws(() => store.set('k', 'v'.repeat(KV_LIMITS.valueBytes + 1)), limit(/^kv\.set: value is 65537 bytes; the limit is 65536$/));
    assert.throws(() => store.set('k', 'v', -5), /kv\.set: options\.ttlMs must be a positive number/);
    await store.set('k'.repeat(KV_LIMITS.keyBytes), 'v'.repeat(KV_LIMITS.valueBytes));
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('writes past the quota are refused; expired keys are purged to make room', async () => {
  const dir = await tempDir();
  let now = 0;
  try {
    const store = await KvStore.open(dir, { quotaBytes: 100, now: () => now });
    await store.set('a', 'x'.repeat(49)); // 50 bytes
    await store.set('b', 'x'.repeat(39), 1000); // 40 bytes, expires
    await assert.rejects(store.set('c', 'x'.repeat(19)), limit(/^kv\.set: the store would hold 110 bytes; the quota is 100$/));
    await store.set('a', 'x'.repeat(59), undefined); // replacing counts only the growth: 100 bytes
    now = 1000;
    await store.set('c', 'x'.repeat(19));
    assert.equal(store.get('b'), null);
    assert.equal(store.liveBytes, 80);
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('one store per directory is shared by its leases and closed with the last one', async () => {
  const dir = await tempDir();
  try {
    const first = await acquireKvStore(dir);
    const second = await acquireKvStore(path.join(dir, '.'));
    assert.equal(first.store, second.store);
    await first.store.set('k', 'v');
    await first.release();
    await first.release();
    assert.equal(await second.store.delete('k'), true, 'the store stays open while a lease holds it');
    await second.release();
    await assert.rejects(second.store.set('k', 'v'), /closed/);
    const third = await acquireKvStore(dir);
    assert.notEqual(third.store, first.store);
    assert.equal(third.store.get('k'), null);
    await third.release();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
