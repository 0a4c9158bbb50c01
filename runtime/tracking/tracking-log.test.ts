import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LogFields, LogLevel } from '../log/logger.ts';
import type { TrackingEntry } from './tracking-entry.ts';
import { TrackingLog, type TrackingLogOptions } from './tracking-log.ts';
import { TrackingQueryError } from './tracking-query.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2024, 4, 1, 12, 0, 0); // 2024-05-01T12:00:00Z

interface Logged {
  level: LogLevel;
  event: string;
  fields: LogFields;
}

async function withLog(
  fn: (t: { log: TrackingLog; dir: string; logs: Logged[]; reopen(extra?: Partial<TrackingLogOptions>): Promise<TrackingLog> }) => Promise<void>,
  options: Partial<TrackingLogOptions> = {},
): Promise<void> {
  const root = await mkdtemp(path.join(tmpdir(), 'sluice-tracking-'));
  const dir = path.join(root, 'tracking');
  const logs: Logged[] = [];
  const opened: TrackingLog[] = [];
  const make = async (extra: Partial<TrackingLogOptions> = {}): Promise<TrackingLog> => {
    const log = new TrackingLog({ dir, now: () => T0, log: (level, event, fields = {}) => void logs.push({ level, event, fields }), ...options, ...extra });
    await log.open();
    opened.push(log);
    return log;
  };
  try {
    await fn({ log: await make(), dir, logs, reopen: make });
  } finally {
    for (const log of opened) await log.close();
    await rm(root, { recursive: true, force: true });
  }
}

const entry = (over: Partial<TrackingEntry> & { queueId: string }): TrackingEntry => ({ at: T0, event: 'RECEIVE', ...over });

async function files(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

test('entries are written one JSON object per line, in order, under the day file, and flush waits for them', async () => {
  await withLog(async ({ log, dir }) => {
    const a = entry({ queueId: 'Q1', messageId: 'm1@example.com', sender: 'a@example.net', recipients: ['b@example.com'] });
    const b = entry({ at: T0 + 1, event: 'DELIVER', queueId: 'Q1', nextHop: 'maildir:example.com', reply: '250 2.0.0 OK', detail: { attempt: 1, tls: true } });
    log.append(a);
    log.append(b);
    await log.flush();
    assert.deepEqual(await files(dir), ['tracking-2024-05-01.0001.jsonl']);
    const text = await readFile(path.join(dir, 'tracking-2024-05-01.0001.jsonl'), 'utf8');
    assert.equal(text, `${JSON.stringify(a)}\n${JSON.stringify(b)}\n`);
    assert.deepEqual(await log.search({ queueId: 'Q1' }), [a, b]);
  });
});

test('search matches by Message-ID (with or without <>), sender, null sender, any recipient, queue id and event', async () => {
  await withLog(async ({ log }) => {
    const rows: TrackingEntry[] = [
      entry({ queueId: 'Q1', messageId: 'one@example.com', sender: 'Alice@Example.NET', recipients: ['bob@example.com', 'Carol@Example.com'] }),
      entry({ queueId: 'Q2', messageId: 'two@example.com', sender: 'alice@example.net', recipients: ['dave@example.org'] }),
      entry({ queueId: 'Q3', messageId: 'three@example.com', sender: '', recipients: ['alice@example.net'] }),
      entry({ queueId: 'Q1', event: 'DELIVER', recipients: ['bob@example.com'], nextHop: 'smtp:example.com' }),
    ];
    for (const r of rows) log.append(r);
    const ids = async (q: Parameters<TrackingLog['search']>[0]): Promise<string[]> => (await log.search(q)).map((e) => `${e.queueId}:${e.event}`);

    assert.deepEqual(await ids({ messageId: 'two@example.com' }), ['Q2:RECEIVE']);
    assert.deepEqual(await ids({ messageId: '<two@example.com>' }), ['Q2:RECEIVE']);
    assert.deepEqual(await ids({ messageId: 'TWO@example.com' }), [], 'Message-ID is exact');
    assert.deepEqual(await ids({ sender: 'Alice@example.net' }), ['Q1:RECEIVE'], 'local part exact, domain any case');
    assert.deepEqual(await ids({ sender: 'alice@EXAMPLE.NET' }), ['Q2:RECEIVE']);
    assert.deepEqual(await ids({ sender: '<alice@example.net>' }), ['Q2:RECEIVE']);
    assert.deepEqual(await ids({ sender: '' }), ['Q3:RECEIVE'], 'the null sender');
    assert.deepEqual(await ids({ sender: '<>' }), ['Q3:RECEIVE']);
    assert.deepEqual(await ids({ recipient: 'carol@example.com' }), [], 'recipient local part is exact');
    assert.deepEqual(await ids({ recipient: 'Carol@EXAMPLE.com' }), ['Q1:RECEIVE']);
    assert.deepEqual(await ids({ recipient: 'bob@example.com' }), ['Q1:RECEIVE', 'Q1:DELIVER']);
    assert.deepEqual(await ids({ recipient: 'alice@example.net' }), ['Q3:RECEIVE'], 'a sender is not a recipient');
    assert.deepEqual(await ids({ queueId: 'Q1' }), ['Q1:RECEIVE', 'Q1:DELIVER']);
    assert.deepEqual(await ids({ queueId: 'Q1', event: 'DELIVER' }), ['Q1:DELIVER']);
    assert.deepEqual(await ids({ event: 'RECEIVE', recipient: 'bob@example.com' }), ['Q1:RECEIVE']);
    assert.deepEqual(await ids({}), ['Q1:RECEIVE', 'Q2:RECEIVE', 'Q3:RECEIVE', 'Q1:DELIVER']);
  });
});

test('the time range is inclusive at both ends', async () => {
  await withLog(async ({ log }) => {
    for (let i = 0; i < 5; i++) log.append(entry({ at: T0 + i * 1000, queueId: `Q${i}` }));
    const ids = async (from?: number, to?: number): Promise<string[]> =>
      (await log.search({ ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) })).map((e) => e.queueId);
    assert.deepEqual(await ids(T0 + 1000, T0 + 3000), ['Q1', 'Q2', 'Q3']);
    assert.deepEqual(await ids(T0 + 1001, T0 + 2999), ['Q2']);
    assert.deepEqual(await ids(T0 + 4000), ['Q4']);
    assert.deepEqual(await ids(undefined, T0), ['Q0']);
  });
});

test('files of days outside the time range are skipped by name, not opened', async () => {
  await withLog(async ({ log, dir }) => {
    log.append(entry({ at: T0 - DAY, queueId: 'yesterday' }));
    log.append(entry({ at: T0, queueId: 'today' }));
    log.append(entry({ at: T0 + DAY, queueId: 'tomorrow' }));
    await log.flush();
    assert.deepEqual(await files(dir), ['tracking-2024-04-30.0001.jsonl', 'tracking-2024-05-01.0001.jsonl', 'tracking-2024-05-02.0001.jsonl']);
    // Yesterday's and tomorrow's files become directories: reading either would fail (EISDIR).
    for (const day of ['2024-04-30', '2024-05-02']) {
      const file = path.join(dir, `tracking-${day}.0001.jsonl`);
      await rm(file);
      await mkdir(file);
    }
    const dayStart = Date.UTC(2024, 4, 1);
    assert.deepEqual((await log.search({ from: dayStart, to: dayStart + DAY - 1 })).map((e) => e.queueId), ['today']);
    await assert.rejects(log.search({ from: dayStart, to: dayStart + DAY }), /EISDIR/, 'the next day starts at the next millisecond');
  });
});

test('limit keeps the newest entries, oldest first, and says so; default 100; a bad limit names the field', async () => {
  await withLog(async ({ log }) => {
    for (let i = 0; i < 150; i++) log.append(entry({ at: T0 + i, queueId: `Q${String(i).padStart(3, '0')}` }));
    const five = await log.find({ limit: 5 });
    assert.equal(five.truncated, true);
    assert.deepEqual(five.entries.map((e) => e.queueId), ['Q145', 'Q146', 'Q147', 'Q148', 'Q149']);
    const all = await log.find({ limit: 150 });
    assert.equal(all.truncated, false);
    assert.equal(all.entries.length, 150);
    const byDefault = await log.find({});
    assert.equal(byDefault.entries.length, 100);
    assert.equal(byDefault.entries[0]!.queueId, 'Q050');
    assert.equal(byDefault.truncated, true);
    assert.deepEqual((await log.search({ limit: 1, queueId: 'Q010' })).map((e) => e.queueId), ['Q010']);

    for (const limit of [0, 1001, 2.5, -1]) {
      await assert.rejects(log.search({ limit }), (e: unknown) => e instanceof TrackingQueryError && e.field === 'limit' && /1 to 1000/.test(e.message));
    }
    await assert.rejects(log.search({ from: T0 + 1, to: T0 }), (e: unknown) => e instanceof TrackingQueryError && e.field === 'to');
    await assert.rejects(log.search({ event: 'SHIPPED' as never }), (e: unknown) => e instanceof TrackingQueryError && e.field === 'event');
    await assert.rejects(log.search({ recipient: '<>' }), (e: unknown) => e instanceof TrackingQueryError && e.field === 'recipient');
  });
});

test('the newest matches span files: older files fill the rest of the limit', async () => {
  await withLog(
    async ({ log, dir }) => {
      for (let i = 0; i < 40; i++) log.append(entry({ at: T0 + i, queueId: `Q${String(i).padStart(2, '0')}`, ...(i % 2 === 0 ? { event: 'DELIVER' } : {}) }));
      await log.flush();
      assert.ok((await files(dir)).length >= 4, 'the entries span several files');
      const r = await log.find({ event: 'DELIVER', limit: 7 });
      assert.deepEqual(r.entries.map((e) => e.queueId), ['Q26', 'Q28', 'Q30', 'Q32', 'Q34', 'Q36', 'Q38']);
      assert.equal(r.truncated, true);
      assert.equal((await log.find({ event: 'DELIVER', limit: 20 })).truncated, false);
    },
    { maxFileBytes: 500 },
  );
});

test('a file is rotated before it would pass maxFileBytes; a longer entry gets a file of its own', async () => {
  await withLog(
    async ({ log, dir }) => {
      const line = (i: number): TrackingEntry => entry({ at: T0 + i, queueId: `Q${String(i).padStart(3, '0')}` });
      const size = JSON.stringify(line(0)).length + 1;
      for (let i = 0; i < 25; i++) log.append(line(i));
      log.append(entry({ queueId: 'BIG', reply: 'x'.repeat(400) }));
      log.append(line(25));
      await log.flush();
      const names = await files(dir);
      assert.equal(names[0], 'tracking-2024-05-01.0001.jsonl');
      assert.ok(names.length >= 3, names.join());
      for (const [i, name] of names.entries()) {
        assert.equal(name, `tracking-2024-05-01.${String(i + 1).padStart(4, '0')}.jsonl`);
        const bytes = (await stat(path.join(dir, name))).size;
        const text = await readFile(path.join(dir, name), 'utf8');
        if (!text.includes('"BIG"')) assert.ok(bytes <= 200, `${name} is ${bytes} bytes`);
        else assert.equal(text.split('\n').length, 2, 'the long entry is alone in its file');
        assert.ok(text.endsWith('\n'));
      }
      assert.equal(Math.floor(200 / size) * size, (await stat(path.join(dir, names[0]!))).size, 'a file takes as many whole lines as fit');
      const all = await log.search({ limit: 1000 });
      assert.deepEqual(all.map((e) => e.queueId), [...Array.from({ length: 25 }, (_, i) => line(i).queueId), 'BIG', 'Q025']);
    },
    { maxFileBytes: 200 },
  );
});

test('entries go to the file of their own UTC day; a late entry for an earlier day joins that day', async () => {
  await withLog(async ({ log, dir }) => {
    const midnight = Date.UTC(2024, 4, 2);
    log.append(entry({ at: midnight - 1, queueId: 'last' }));
    log.append(entry({ at: midnight, queueId: 'first' }));
    log.append(entry({ at: midnight - 5, queueId: 'late' }));
    log.append(entry({ at: midnight + 10, queueId: 'second' }));
    await log.flush();
    assert.deepEqual(await files(dir), ['tracking-2024-05-01.0001.jsonl', 'tracking-2024-05-02.0001.jsonl']);
    const read = async (name: string): Promise<string[]> =>
      (await readFile(path.join(dir, name), 'utf8')).trimEnd().split('\n').map((l) => (JSON.parse(l) as TrackingEntry).queueId);
    assert.deepEqual(await read('tracking-2024-05-01.0001.jsonl'), ['last', 'late']);
    assert.deepEqual(await read('tracking-2024-05-02.0001.jsonl'), ['first', 'second']);
    assert.deepEqual((await log.search({ from: midnight - 10, to: midnight + 10 })).map((e) => e.queueId), ['last', 'late', 'first', 'second']);
  });
});

test('reopening continues the newest file of the day and its size limit', async () => {
  await withLog(
    async ({ log, dir, reopen }) => {
      for (let i = 0; i < 3; i++) log.append(entry({ queueId: `A${i}` }));
      await log.close();
      const before = await files(dir);
      const next = await reopen();
      next.append(entry({ queueId: 'B0' }));
      await next.flush();
      const after = await files(dir);
      assert.equal(after.length, before.length, 'no new file while the newest has room');
      assert.deepEqual((await next.search({})).map((e) => e.queueId), ['A0', 'A1', 'A2', 'B0']);
    },
    { maxFileBytes: 10_000 },
  );
});

test('retention deletes whole days past it at open and when writing moves to a new day; other files are left alone', async () => {
  await withLog(
    async ({ log, dir, logs, reopen }) => {
      for (let d = 0; d < 5; d++) log.append(entry({ at: T0 + d * DAY, queueId: `D${d}` }));
      await log.flush();
      await writeFile(path.join(dir, 'notes.txt'), 'keep me');
      await log.close();
      assert.equal((await files(dir)).length, 6);

      // Now is day 4 (2024-05-05) noon; 2 days' retention keeps the days that ended after 05-03 noon.
      let now = T0 + 4 * DAY;
      const next = await reopen({ now: () => now });
      assert.deepEqual(await files(dir), ['notes.txt', 'tracking-2024-05-03.0001.jsonl', 'tracking-2024-05-04.0001.jsonl', 'tracking-2024-05-05.0001.jsonl']);
      assert.deepEqual(logs.filter((l) => l.event === 'tracking.pruned').map((l) => l.fields.files), [2]);

      next.append(entry({ at: T0 + 4 * DAY + 1, queueId: 'still day 4' }));
      await next.flush();
      now = T0 + 6 * DAY;
      next.append(entry({ at: now, queueId: 'D6' }));
      await next.flush();
      assert.deepEqual(await files(dir), ['notes.txt', 'tracking-2024-05-05.0001.jsonl', 'tracking-2024-05-07.0001.jsonl']);
      assert.deepEqual((await next.search({})).map((e) => e.queueId), ['D4', 'still day 4', 'D6']);
      now = T0 + 30 * DAY;
      assert.equal(await next.prune(), 1, 'everything but the file being written');
      assert.deepEqual(await files(dir), ['notes.txt', 'tracking-2024-05-07.0001.jsonl']);
    },
    { retentionMs: 2 * DAY },
  );
});

test('a torn last line from a crash is skipped by search and the next append starts on a fresh line', async () => {
  await withLog(async ({ log, dir, reopen }) => {
    const whole = entry({ queueId: 'WHOLE', sender: 'a@example.net' });
    log.append(whole);
    await log.close();
    const file = path.join(dir, 'tracking-2024-05-01.0001.jsonl');
    const torn = JSON.stringify(entry({ queueId: 'TORN', sender: 'a@example.net' })).slice(0, 60);
    await appendFile(file, torn);

    const next = await reopen();
    assert.deepEqual(await next.search({ sender: 'a@example.net' }), [whole], 'the torn tail is not a line');
    const after = entry({ queueId: 'AFTER', sender: 'a@example.net' });
    next.append(after);
    await next.flush();
    assert.deepEqual(await next.search({ sender: 'a@example.net' }), [whole, after]);
    const lines = (await readFile(file, 'utf8')).split('\n');
    assert.equal(lines.length, 4);
    assert.equal(lines[1], torn, 'the torn line is kept as it was (append-only)');
    assert.deepEqual(JSON.parse(lines[2]!), after);
    assert.equal(lines[3], '');
  });
});

test('search reads files in chunks: lines across chunk boundaries are whole, a foreign or oversized line is skipped', async () => {
  await withLog(async ({ log, dir }) => {
    const entries = Array.from({ length: 2000 }, (_, i) => entry({ at: T0 + i, queueId: `Q${i}`, reply: `250 ${'é'.repeat(i % 70)}` }));
    for (const e of entries) log.append(e);
    await log.flush();
    const file = path.join(dir, 'tracking-2024-05-01.0001.jsonl');
    assert.ok((await stat(file)).size > 3 * 64 * 1024, 'bigger than several read chunks');
    await appendFile(file, `not json\n{"at":1}\n${JSON.stringify({ ...entry({ queueId: 'HUGE' }), reply: 'x'.repeat(5 * 1024 * 1024) })}\n`);
    log.append(entry({ at: T0 + 5000, queueId: 'LAST' }));
    const found = await log.search({ limit: 1000 });
    assert.deepEqual(found, [...entries.slice(1001), entry({ at: T0 + 5000, queueId: 'LAST' })]);
    assert.deepEqual(await log.search({ queueId: 'HUGE' }), []);
  });
});

test('concurrent appends from many tasks land in append order, across file rotations', async () => {
  await withLog(
    async ({ log }) => {
      const order: string[] = [];
      const searches: Promise<unknown>[] = [];
      const producer = async (p: number): Promise<void> => {
        for (let i = 0; i < 50; i++) {
          const queueId = `P${p}-${i}`;
          order.push(queueId);
          log.append(entry({ at: T0 + order.length, queueId, event: 'ROUTE' }));
          if (p === 0 && i % 10 === 0) searches.push(log.search({ event: 'ROUTE' }));
          if (i % 7 === 0) await new Promise((r) => setImmediate(r));
          else await null;
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, p) => producer(p)));
      await Promise.all(searches);
      await log.flush();
      const found = await log.search({ event: 'ROUTE', limit: 1000 });
      assert.equal(found.length, 400);
      assert.deepEqual(found.map((e) => e.queueId), order);
    },
    { maxFileBytes: 4096 },
  );
});

test('append never throws: a bad entry, a bad time and writes after close are logged once each', async () => {
  await withLog(async ({ log, logs }) => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.doesNotThrow(() => log.append({ ...entry({ queueId: 'C' }), detail: cyclic as never }));
    assert.doesNotThrow(() => log.append({ ...entry({ queueId: 'B' }), detail: { n: 1n } as never }));
    assert.doesNotThrow(() => log.append(entry({ at: Number.NaN, queueId: 'NAN' })));
    assert.doesNotThrow(() => log.append(null as never));
    assert.deepEqual((await log.search({ queueId: 'NAN' })).map((e) => e.at), [T0], 'a missing time is now');
    assert.equal((await log.search({ queueId: 'C' })).length, 0);
    assert.deepEqual(logs.map((l) => [l.event, l.fields.field ?? null]), [['tracking.bad-entry', null], ['tracking.bad-entry', 'at']]);
    await log.close();
    log.append(entry({ queueId: 'X' }));
    log.append(entry({ queueId: 'Y' }));
    assert.equal(logs.filter((l) => l.event === 'tracking.closed').length, 1);
  });
});

test('write errors are logged once, never reach the caller, and recovery is logged with the count dropped', async () => {
  await withLog(async ({ log, dir, logs }) => {
    log.append(entry({ queueId: 'OK1' }));
    await log.flush();
    // The directory is replaced by a file: opening the next day's file fails with ENOTDIR/ENOENT.
    await rm(dir, { recursive: true });
    await writeFile(dir, 'in the way');
    for (let i = 0; i < 3; i++) {
      log.append(entry({ at: T0 + DAY + i, queueId: `LOST${i}` }));
      await log.flush();
    }
    const failures = logs.filter((l) => l.event === 'tracking.write-failed');
    assert.equal(failures.length, 1);
    assert.equal(failures[0]!.level, 'error');
    assert.match(String(failures[0]!.fields.error), /ENOTDIR|ENOENT|EEXIST/);
    assert.equal(failures[0]!.fields.file, 'tracking-2024-05-02.0001.jsonl');

    await rm(dir);
    await mkdir(dir);
    log.append(entry({ at: T0 + DAY, queueId: 'OK2' }));
    await log.flush();
    assert.deepEqual(logs.filter((l) => l.event === 'tracking.write-recovered').map((l) => l.fields.dropped), [3]);
    assert.deepEqual((await log.search({})).map((e) => e.queueId), ['OK2']);
  });
});
