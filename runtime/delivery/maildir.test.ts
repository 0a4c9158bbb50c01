/** Tests for Maildir delivery, on real files in a temporary directory. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative, sep } from 'node:path';
import { MaildirWriter, mailboxDir } from './maildir.ts';
import type { DeliveryResult } from './maildir.ts';

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await realpath(await mkdtemp(join(tmpdir(), 'sluice-maildir-')));
  try {
    await fn(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function okPath(result: DeliveryResult | undefined): string {
  assert.ok(result?.ok, `expected success, got ${JSON.stringify(result)}`);
  return result.path;
}

/** Every file below `dir`, as paths relative to `base`. */
async function filesUnder(dir: string, base = dir): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await filesUnder(path, base)));
    else files.push(relative(base, path));
  }
  return files;
}

const NAME = /^(\d+)\.M(\d{1,6})P(\d+)Q(\d+)R([0-9a-f]{16})\.(.+),S=(\d+)$/;

test('delivers the exact bytes into new/ and leaves tmp/ empty', async () => {
  await withRoot(async (root) => {
    const writer = new MaildirWriter({ root, hostname: 'mx.example' });
    const binary = new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff);
    const messages = [bytes('Subject: hi\r\n\r\nbody\r\n.\r\n'), binary, new Uint8Array(0)];
    const results = await writer.deliver(
      messages.map((message) => ({ domain: 'Example.COM', localPart: 'Bob', message })),
    );
    const dir = join(root, 'example.com', 'bob');
    for (const [i, message] of messages.entries()) {
      const path = okPath(results[i]);
      assert.equal(relative(join(dir, 'new'), path), basename(path));
      assert.deepEqual(new Uint8Array(await readFile(path)), message);
    }
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
    assert.deepEqual(await readdir(join(dir, 'cur')), []);
    assert.equal((await readdir(join(dir, 'new'))).length, 3);
  });
});

test('names files <sec>.M<usec>P<pid>Q<n>R<hex>.<host>,S=<size> with the host escaped', async () => {
  await withRoot(async (root) => {
    const writer = new MaildirWriter({
      root,
      hostname: 'mx/1:a,b',
      now: () => 1_700_000_000_123.456,
    });
    const [result] = await writer.deliver([{ domain: 'd', localPart: 'l', message: bytes('12345') }]);
    const match = NAME.exec(basename(okPath(result)));
    assert.ok(match, basename(okPath(result)));
    assert.equal(match[1], '1700000000');
    assert.equal(match[2], '123456');
    assert.equal(match[3], String(process.pid));
    assert.equal(match[6], 'mx\\0571\\072a\\054b');
    assert.equal(match[7], '5');
  });
});

test('names stay unique across 5,000 deliveries in one batch within one microsecond', async () => {
  await withRoot(async (root) => {
    const writer = new MaildirWriter({ root, hostname: 'h', now: () => 1_700_000_000_000 });
    const message = bytes('x');
    const items = Array.from({ length: 5000 }, () => ({ domain: 'd', localPart: 'u', message }));
    const results = await writer.deliver(items);
    const names = new Set(results.map((r) => basename(okPath(r))));
    assert.equal(names.size, 5000);
    assert.equal((await readdir(join(root, 'd', 'u', 'new'))).length, 5000);
    assert.deepEqual(await readdir(join(root, 'd', 'u', 'tmp')), []);
  });
});

test('names stay unique across two writers delivering at once with the same clock', async () => {
  await withRoot(async (root) => {
    const now = (): number => 1_700_000_000_000;
    const a = new MaildirWriter({ root, hostname: 'h', now });
    const b = new MaildirWriter({ root, hostname: 'h', now });
    const items = Array.from({ length: 500 }, (_, i) => ({
      domain: 'd',
      localPart: 'u',
      message: bytes(`m${i}`),
    }));
    const [ra, rb] = await Promise.all([a.deliver(items), b.deliver(items)]);
    const names = new Set([...ra, ...rb].map((r) => basename(okPath(r))));
    assert.equal(names.size, 1000);
    assert.equal((await readdir(join(root, 'd', 'u', 'new'))).length, 1000);
  });
});

const SAFETY_TABLE: [domain: string, localPart: string, expected: string][] = [
  ['example.com', '../etc', `example.com${sep}%2E.%2Fetc`],
  ['example.com', 'a/b', `example.com${sep}a%2Fb`],
  ['example.com', '.hidden', `example.com${sep}%2Ehidden`],
  ['example.com', '..', `example.com${sep}%2E.`],
  ['example.com', '.', `example.com${sep}%2E`],
  ['example.com', 'ÄLICE', `example.com${sep}Älice`],
  ['example.com', 'A\u0308lice', `example.com${sep}Älice`],
  ['example.com', 'a%b', `example.com${sep}a%25b`],
  ['example.com', 'a%25b', `example.com${sep}a%2525b`],
  ['example.com', 'a\\b', `example.com${sep}a%5Cb`],
  ['example.com', 'nul\0byte', `example.com${sep}nul%00byte`],
  ['example.com', 'jürgen.müller', `example.com${sep}jürgen.müller`],
  ['example.com', '用户', `example.com${sep}用户`],
  ['example.com', 'a b:c', `example.com${sep}a%20b%3Ac`],
  ['example.com', '😀', `example.com${sep}%F0%9F%98%80`],
  ['example.com', 'First.Last+tag=x-y_z', `example.com${sep}first.last+tag=x-y_z`],
  ['..', 'x', `%2E.${sep}x`],
  ['../../tmp', 'x', `%2E.%2F..%2Ftmp${sep}x`],
  ['EXAMPLE.Org', 'x', `example.org${sep}x`],
];

test('maps addresses to path-safe folders that stay under the root', async () => {
  await withRoot(async (root) => {
    const seen = new Map<string, string>();
    for (const [domain, localPart, expected] of SAFETY_TABLE) {
      const dir = mailboxDir(root, domain, localPart);
      assert.equal(relative(root, dir), expected, `${domain} / ${JSON.stringify(localPart)}`);
      const parts = relative(root, dir).split(sep);
      assert.equal(parts.length, 2);
      for (const part of parts) {
        assert.ok(!part.startsWith('.') && !/[/\\\0]/.test(part), part);
      }
      seen.set(dir, `${domain}/${localPart.normalize('NFC')}`);
    }
    assert.equal(seen.size, SAFETY_TABLE.length - 1); // only the NFD spelling of Älice coincides

    const writer = new MaildirWriter({ root, hostname: 'h' });
    const results = await writer.deliver(
      SAFETY_TABLE.map(([domain, localPart]) => ({ domain, localPart, message: bytes('m') })),
    );
    for (const result of results) {
      const path = okPath(result);
      assert.ok((await realpath(path)).startsWith(root + sep));
    }
    const files = await filesUnder(root);
    assert.equal(files.length, SAFETY_TABLE.length);
    for (const file of files) {
      assert.ok(!file.split(sep).some((p) => p.startsWith('.')), file);
    }
  });
});

test('rejects mailbox names that are empty, ill-formed or too long', () => {
  assert.throws(() => mailboxDir('/r', '', 'x'), RangeError);
  assert.throws(() => mailboxDir('/r', 'd', ''), RangeError);
  assert.throws(() => mailboxDir('/r', 'd', 'a\uD800b'), RangeError);
  assert.throws(() => mailboxDir('/r', 'd', '/'.repeat(86)), RangeError);
  assert.equal(mailboxDir('/r', 'd', 'x'.repeat(255)), join('/r', 'd', 'x'.repeat(255)));
});

test('a mailbox whose new/ is a regular file fails alone', async () => {
  await withRoot(async (root) => {
    await mkdir(join(root, 'd', 'bob'), { recursive: true });
    await writeFile(join(root, 'd', 'bob', 'new'), 'not a directory');
    const writer = new MaildirWriter({ root, hostname: 'h' });
    const results = await writer.deliver([
      { domain: 'd', localPart: 'alice', message: bytes('a') },
      { domain: 'd', localPart: 'bob', message: bytes('b') },
      { domain: 'd', localPart: 'carol', message: bytes('c') },
    ]);
    assert.equal(await readFile(okPath(results[0]), 'utf8'), 'a');
    assert.equal(await readFile(okPath(results[2]), 'utf8'), 'c');
    const failed = results[1];
    assert.ok(failed && !failed.ok);
    assert.match(failed.error.code, /^(EEXIST|ENOTDIR)$/);
    assert.equal(await readFile(join(root, 'd', 'bob', 'new'), 'utf8'), 'not a directory');
  });
});

test('a rename that fails removes its tmp file and fails alone', async () => {
  await withRoot(async (root) => {
    const writer = new MaildirWriter({ root, hostname: 'h' });
    okPath((await writer.deliver([{ domain: 'd', localPart: 'bob', message: bytes('1') }]))[0]);
    // The writer has cached bob's folders; now break new/ behind its back.
    const bob = join(root, 'd', 'bob');
    await rm(join(bob, 'new'), { recursive: true });
    await writeFile(join(bob, 'new'), 'not a directory');
    const results = await writer.deliver([
      { domain: 'd', localPart: 'bob', message: bytes('2') },
      { domain: 'd', localPart: 'alice', message: bytes('3') },
    ]);
    const failed = results[0];
    assert.ok(failed && !failed.ok);
    assert.equal(failed.error.code, 'ENOTDIR');
    assert.deepEqual(await readdir(join(bob, 'tmp')), []);
    assert.equal(await readFile(okPath(results[1]), 'utf8'), '3');
  });
});

test('an invalid address fails alone with EINVAL', async () => {
  await withRoot(async (root) => {
    const writer = new MaildirWriter({ root, hostname: 'h' });
    const results = await writer.deliver([
      { domain: 'd', localPart: '', message: bytes('a') },
      { domain: 'd', localPart: 'ok', message: bytes('b') },
    ]);
    assert.deepEqual(results[0], {
      ok: false,
      error: { code: 'EINVAL', message: 'empty local part' },
    });
    assert.equal(await readFile(okPath(results[1]), 'utf8'), 'b');
  });
});

test('recreates a mailbox removed after the writer cached it', async () => {
  await withRoot(async (root) => {
    const writer = new MaildirWriter({ root, hostname: 'h' });
    okPath((await writer.deliver([{ domain: 'd', localPart: 'bob', message: bytes('1') }]))[0]);
    await rm(join(root, 'd'), { recursive: true });
    const [result] = await writer.deliver([{ domain: 'd', localPart: 'bob', message: bytes('2') }]);
    assert.equal(await readFile(okPath(result), 'utf8'), '2');
    assert.deepEqual((await readdir(join(root, 'd', 'bob'))).sort(), ['cur', 'new', 'tmp']);
  });
});
