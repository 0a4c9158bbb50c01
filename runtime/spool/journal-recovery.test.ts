// Tests for replay of a damaged journal: torn tails are cut, damage elsewhere is quarantined, never delivered half.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeRecordHeader, RecordType } from './record.ts';
import { messagePayloadParts } from './record-payload.ts';
import { decodeSegmentHeader, segmentFileName, type SegmentHeader } from './segment-header.ts';
import type { Envelope } from './envelope.ts';
import { JournalStore } from './journal-store.ts';
import { captureLog, makeEnvelope, messageFor, openStore, withTempDir } from './journal-test-kit.ts';

const segmentPath = (dir: string, n = 1): string => join(dir, 'journal', segmentFileName(n));

async function acceptAll(dir: string, count: number, size = 800): Promise<Envelope[]> {
  const store = await openStore({ dir });
  const envelopes = Array.from({ length: count }, () => makeEnvelope());
  for (const e of envelopes) await store.accept(e, [messageFor(e.id, size)]);
  await store.close();
  return envelopes;
}

async function headerOf(dir: string): Promise<SegmentHeader> {
  const header = decodeSegmentHeader(await readFile(segmentPath(dir)), 1);
  assert.ok(typeof header !== 'string', header as string);
  return header;
}

/** An ACCEPT record with a valid checksum around whatever envelope text is given. */
function craftedAccept(key: SegmentHeader, envelopeText: string, body: Uint8Array): Buffer {
  const { parts } = messagePayloadParts(Buffer.from(envelopeText), undefined, [body]);
  const length = parts.reduce((n, p) => n + p.length, 0);
  return Buffer.concat([encodeRecordHeader(key, RecordType.accept, parts, length), ...parts]);
}

test('a torn tail of the newest segment is truncated with a log line and no quarantine', async () => {
  await withTempDir(async (dir) => {
    const [a, b] = await acceptAll(dir, 2);
    const full = (await stat(segmentPath(dir))).size;
    await truncate(segmentPath(dir), full - 100); // b's record loses its last 100 bytes
    const { log, lines } = captureLog();
    const store = new JournalStore({ dir, log });
    const report = await store.open();
    assert.deepEqual(report, { recovered: 1, quarantined: [] });
    assert.deepEqual(await store.read(a!.id), messageFor(a!.id, 800));
    await assert.rejects(store.read(b!.id), { code: 'NOT_FOUND' });
    assert.ok(lines.some((l) => l.level === 'warn' && /torn tail/.test(l.msg)));
    assert.ok((await stat(segmentPath(dir))).size < full - 100, 'the partial record is cut off');

    const c = makeEnvelope();
    await store.accept(c, [messageFor(c.id)]);
    await store.close();
    const reopened = new JournalStore({ dir });
    assert.deepEqual(await reopened.open(), { recovered: 2, quarantined: [] });
    assert.deepEqual(await reopened.read(c.id), messageFor(c.id));
    await reopened.close();
  });
});

test('a zero-filled tail (lost writeback after a crash) is truncated silently', async () => {
  await withTempDir(async (dir) => {
    const [a] = await acceptAll(dir, 1);
    const before = (await stat(segmentPath(dir))).size;
    await appendFile(segmentPath(dir), Buffer.alloc(8192));
    const store = new JournalStore({ dir });
    assert.deepEqual(await store.open(), { recovered: 1, quarantined: [] });
    assert.equal((await stat(segmentPath(dir))).size, before);
    assert.deepEqual(await store.read(a!.id), messageFor(a!.id, 800));
    await store.close();
  });
});

test('a flipped bit in the middle quarantines that entry only; the others stay intact', async () => {
  await withTempDir(async (dir) => {
    const envelopes = await acceptAll(dir, 5);
    const victim = envelopes[2]!;
    const image = await readFile(segmentPath(dir));
    const at = image.indexOf(Buffer.from(`Message-ID: <${victim.id}@test>`)) + 200;
    image[at] = image[at]! ^ 0x10;
    await writeFile(segmentPath(dir), image);

    const { log, lines } = captureLog();
    const store = new JournalStore({ dir, log });
    const report = await store.open();
    assert.equal(report.recovered, 4);
    assert.equal(report.quarantined.length, 1);
    assert.match(report.quarantined[0]!.reason, /checksum/);
    const quarantined = await readdir(join(dir, 'quarantine'));
    assert.ok(quarantined.some((name) => /^00000001-\d+\.bad$/.test(name)));
    assert.ok(quarantined.some((name) => name.endsWith('.bad.reason')));
    assert.ok((await readFile(report.quarantined[0]!.file)).includes(Buffer.from(victim.id)));
    assert.ok(lines.some((l) => l.level === 'error' && /quarantined/.test(l.msg)));
    await assert.rejects(store.read(victim.id), { code: 'NOT_FOUND' });
    for (const e of envelopes.filter((e) => e !== victim)) {
      assert.deepEqual(await store.read(e.id), messageFor(e.id, 800));
    }
    await store.close();
  });
});

test('an entry whose envelope is not JSON is quarantined, and the entries after it survive', async () => {
  await withTempDir(async (dir) => {
    const [before] = await acceptAll(dir, 1);
    await appendFile(segmentPath(dir), craftedAccept(await headerOf(dir), '{"id": "broken', messageFor('x')));
    const store = await openStore({ dir });
    const after = makeEnvelope();
    await store.accept(after, [messageFor(after.id)]);
    await store.close();

    const reopened = new JournalStore({ dir });
    const report = await reopened.open();
    assert.equal(report.recovered, 2);
    assert.equal(report.quarantined.length, 1);
    assert.equal(report.quarantined[0]!.reason, 'bad JSON');
    assert.deepEqual(await reopened.read(before!.id), messageFor(before!.id, 800));
    assert.deepEqual(await reopened.read(after.id), messageFor(after.id));
    await reopened.close();
  });
});

test('an entry whose envelope fails the schema is quarantined, never delivered', async () => {
  await withTempDir(async (dir) => {
    await acceptAll(dir, 1);
    const bad = { ...makeEnvelope(), recipients: [] };
    await appendFile(segmentPath(dir), craftedAccept(await headerOf(dir), JSON.stringify(bad), messageFor(bad.id)));
    const store = new JournalStore({ dir });
    const report = await store.open();
    assert.equal(report.recovered, 1);
    assert.match(report.quarantined[0]!.reason, /recipients/);
    const claims = await store.claim(Date.now() + 1000, 10, 1000);
    assert.ok(claims.every((c) => c.envelope.id !== bad.id));
    await store.close();
  });
});

test('a record hidden inside a message body is not mistaken for a real one on resync', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir });
    const first = makeEnvelope();
    await store.accept(first, [messageFor(first.id)]);
    // A sender who knew the record layout (but not this segment's random key) plants a record.
    const planted = makeEnvelope({ recipients: [{ address: 'victim@example.com' }] });
    const fakeKey = { number: 1, magic: 0x12345678, seed: 0 };
    const body = Buffer.concat([
      Buffer.from('Subject: hi\r\n\r\n'),
      craftedAccept(fakeKey, JSON.stringify(planted), Buffer.from('spam')),
    ]);
    const carrier = makeEnvelope();
    await store.accept(carrier, [body]);
    const last = makeEnvelope();
    await store.accept(last, [messageFor(last.id)]);
    await store.close();
    // Damage the carrier's header so replay has to resync through its body.
    const image = await readFile(segmentPath(dir));
    // The id sits after the record header (13), the envelope length (4) and `{"id":"` (7).
    const at = image.indexOf(Buffer.from(carrier.id)) - 24 + 6;
    image[at] = image[at]! ^ 0xff;
    await writeFile(segmentPath(dir), image);

    const reopened = new JournalStore({ dir });
    const report = await reopened.open();
    assert.equal(report.quarantined.length, 1, 'the carrier is set aside');
    await assert.rejects(reopened.read(planted.id), { code: 'NOT_FOUND' });
    await assert.rejects(reopened.read(carrier.id), { code: 'NOT_FOUND' });
    assert.deepEqual(await reopened.read(first.id), messageFor(first.id));
    assert.deepEqual(await reopened.read(last.id), messageFor(last.id));
    await reopened.close();
  });
});

test('a damaged segment header quarantines the segment and replay goes on', async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir, segmentBytes: 2048 });
    const envelopes = Array.from({ length: 6 }, () => makeEnvelope());
    for (const e of envelopes) await store.accept(e, [messageFor(e.id, 1500)]);
    await store.close();
    const image = await readFile(segmentPath(dir, 1));
    image[0] = image[0]! ^ 0xff;
    await writeFile(segmentPath(dir, 1), image);

    const reopened = new JournalStore({ dir, segmentBytes: 2048 });
    const report = await reopened.open();
    assert.equal(report.recovered, 5);
    assert.match(report.quarantined[0]!.reason, /not a journal segment/);
    await assert.rejects(reopened.read(envelopes[0]!.id), { code: 'NOT_FOUND' });
    for (const e of envelopes.slice(1)) assert.deepEqual(await reopened.read(e.id), messageFor(e.id, 1500));
    await reopened.close();
  });
});

test('a whole last record that fails its checksum is quarantined before the tail is cut', async () => {
  await withTempDir(async (dir) => {
    const [a, b] = await acceptAll(dir, 2);
    const image = await readFile(segmentPath(dir));
    const at = image.indexOf(Buffer.from(`Message-ID: <${b!.id}@test>`)) + 300;
    image[at] = image[at]! ^ 0x01;
    await writeFile(segmentPath(dir), image);
    const store = new JournalStore({ dir });
    const report = await store.open();
    assert.equal(report.recovered, 1);
    assert.equal(report.quarantined.length, 1);
    assert.match(report.quarantined[0]!.reason, /checksum/);
    assert.deepEqual(await store.read(a!.id), messageFor(a!.id, 800));
    await assert.rejects(store.read(b!.id), { code: 'NOT_FOUND' });
    await store.close();
  });
});
