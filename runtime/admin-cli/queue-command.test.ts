// `sluice queue …` in-process against a real server with the API on; mail put in over real SMTP and kept queued by a broken Maildir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { breakMailbox, deferred, sendMail, until, withQueueServer, type QueueServer } from '../api/queue-test-kit.ts';
import { runAdminCommand } from './run-admin-command.ts';

interface Run {
  code: number;
  out: string;
  err: string;
  /** What was written through the byte sink, when the run had one. */
  bytes: Buffer;
}

/** Runs `sluice queue …` in-process against `s`, finding the admin token through SLUICE_DATA. */
function queue(s: QueueServer, options: { bytes?: boolean } = {}) {
  return async (...argv: string[]): Promise<Run> => {
    let out = '';
    let err = '';
    const chunks: Buffer[] = [];
    const code = await runAdminCommand(['queue', ...argv], { SLUICE_API: `127.0.0.1:${s.api!.port}`, SLUICE_DATA: s.dataDir }, {
      stdout: (t) => (out += t),
      stderr: (t) => (err += t),
      cwd: s.dataDir,
      ...(options.bytes ? { stdoutBytes: (b: Uint8Array) => void chunks.push(Buffer.from(b)) } : {}),
    });
    return { code, out, err, bytes: Buffer.concat(chunks) };
  };
}

test('sluice queue list, show and message print the queue, its messages, recipient status and tracking history', async () => {
  await withQueueServer(async (s) => {
    const run = queue(s);
    assert.equal((await run('list')).out, 'the queue is empty\n');
    await breakMailbox(s, 'example.com', 'stuck');
    const id = await sendMail(s, 'sender@example.org', ['stuck@example.com', 'fine@example.com']);
    await deferred(s, id);

    const list = await run('list');
    assert.equal(list.code, 0, list.err);
    const [head, row, end] = list.out.split('\n');
    assert.match(head!, /^QUEUE +KIND +STATE +MESSAGES +RECIPIENTS +NEXT RETRY +LAST ERROR$/);
    assert.match(row!, /^maildir:example\.com +delivery +active +1 +1 +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +-$/);
    assert.equal(end, '');
    const listed = JSON.parse((await run('list', '--json')).out) as { queues: { queue: string; messages: number }[] };
    assert.deepEqual(listed.queues.map((q) => [q.queue, q.messages]), [['maildir:example.com', 1]]);

    const show = await run('show', 'maildir:example.com');
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, /^ID +RECEIVED +SENDER +RECIPIENTS +SIZE +ATTEMPTS +NEXT ATTEMPT +LAST REPLY\n/);
    assert.match(show.out, new RegExp(`\\n${id} +\\S+ +sender@example\\.org +stuck@example\\.com,fine@example\\.com +\\d+ +1 +\\S+ +451 4\\.3\\.0 mailbox write failed`));
    const second = await sendMail(s, 'sender@example.org', ['stuck@example.com']);
    await deferred(s, second);
    const paged = await run('show', 'maildir:example.com', '--limit', '1');
    assert.match(paged.out, new RegExp(`\\n${id} `));
    assert.doesNotMatch(paged.out, new RegExp(second));
    assert.match(paged.out, /\(messages 1-1 of 2; more with --offset 1\)\n$/);
    const rest = JSON.parse((await run('show', 'maildir:example.com', '--offset', '1', '--json')).out) as { total: number; messages: { id: string }[] };
    assert.deepEqual([rest.total, rest.messages.map((m) => m.id)], [2, [second]]);
    assert.equal((await run('show', 'direct:example.net')).out, 'no messages in direct:example.net\n');

    const message = await run('message', id);
    assert.equal(message.code, 0, message.err);
    assert.match(message.out, new RegExp(`^id: +${id}\\n`));
    assert.match(message.out, /\nsender: +sender@example\.org\n/);
    assert.match(message.out, /\nclient: +127\.0\.0\.1 \(helo client\.test\)\n/);
    assert.match(message.out, /\nRECIPIENT +STATUS +NEXT HOP +AT +REPLY\n/);
    assert.match(message.out, /\nstuck@example\.com +pending +maildir:example\.com +- +451 4\.3\.0 mailbox write failed/);
    assert.match(message.out, /\nfine@example\.com +delivered +maildir:example\.com +\d{4}-/);
    assert.match(message.out, /\nTIME +EVENT +RECIPIENTS +NEXT HOP +REPLY\n\S+ +RECEIVE +stuck@example\.com,fine@example\.com +- +250 2\.0\.0 queued as /);
    assert.match(message.out, /\n\S+ +DEFER +stuck@example\.com +maildir:example\.com +451 4\.3\.0 /);
    const detail = JSON.parse((await run('message', id, '--json')).out) as { recipientStatus: unknown[]; tracking: { event: string }[] };
    assert.equal(detail.recipientStatus.length, 2);
    assert.equal(detail.tracking[0]!.event, 'RECEIVE');
  });
});

test('sluice queue export writes the stored message: 8-bit bytes unchanged to a file or the byte sink, UTF-8 text to text output', async () => {
  await withQueueServer(async (s) => {
    await breakMailbox(s, 'example.com', 'stuck');
    const latin1 = Buffer.from('Subject: caf\xe9\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nd\xe9j\xe0 vu\r\n', 'latin1');
    const id = await sendMail(s, 'sender@example.org', ['stuck@example.com'], latin1);
    await deferred(s, id);
    const run = queue(s);

    const saved = await run('export', id, '--out', 'saved.eml');
    assert.equal(saved.code, 0, saved.err);
    assert.match(saved.out, new RegExp(`^wrote ${id} \\(\\d+ bytes\\) to .*saved\\.eml\\n$`));
    const file = await readFile(join(s.dataDir, 'saved.eml'));
    assert.ok(file.subarray(file.length - latin1.length).equals(latin1), 'the sent bytes, unchanged');
    assert.match(file.toString('latin1'), /^Received: from client\.test /);

    const piped = await queue(s, { bytes: true })('export', id);
    assert.equal(piped.code, 0, piped.err);
    assert.ok(piped.bytes.equals(file), 'standard output gets the same bytes');
    assert.equal(piped.out, '');

    const textOnly = await run('export', id);
    assert.equal(textOnly.code, 2, 'not UTF-8, and the output takes text only');
    assert.match(textOnly.err, /not UTF-8 text .*--out FILE/);

    const utf8 = await sendMail(s, 'sender@example.org', ['stuck@example.com'], 'Subject: plain\r\n\r\nhello\r\n');
    await deferred(s, utf8);
    const text = await run('export', utf8);
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /^Received: [^]*\r\nSubject: plain\r\n\r\nhello\r\n$/);

    const missing = await run('export', '01ABCDEFGHJKMNPQRSTVWXYZ00');
    assert.equal(missing.code, 1);
    assert.match(missing.err, /^sluice: Not Found: no message 01ABCDEFGHJKMNPQRSTVWXYZ00 in the queue\n {2}field id: /);
  });
});

test('sluice queue suspend, resume, retry, delete (with and without --ndr) change the queue', async () => {
  await withQueueServer(async (s) => {
    const run = queue(s);
    const suspended = await run('suspend', 'maildir:example.com');
    assert.equal(suspended.code, 0, suspended.err);
    assert.equal(suspended.out, 'suspended maildir:example.com (0 messages waiting; resume with: sluice queue resume maildir:example.com)\n');
    assert.deepEqual(JSON.parse(await readFile(join(s.dataDir, 'queues.json'), 'utf8')).suspended, ['maildir:example.com']);
    assert.match((await run('list')).out, /\nmaildir:example\.com +delivery +suspended +0 +0 /);
    const held = await sendMail(s, 'sender@example.org', ['alice@example.com']);
    await deferred(s, held);
    const resumed = await run('resume', 'maildir:example.com', '--json');
    assert.equal(resumed.code, 0, resumed.err);
    assert.deepEqual(JSON.parse(resumed.out), { retried: 1 });
    await s.waitForMail('example.com', 'alice', 1);

    const blocker = await breakMailbox(s, 'example.com', 'stuck');
    const a = await sendMail(s, 'sender@example.org', ['stuck@example.com']);
    await deferred(s, a);
    const b = await sendMail(s, 'sender@example.org', ['stuck@example.com']);
    await deferred(s, b);
    await rm(blocker);
    assert.equal((await run('retry', a)).out, `${a} is due now\n`);
    await s.waitForMail('example.com', 'stuck', 1);
    await until('a to be delivered', () => (s.spool.list().some((m) => m.envelope.id === a) ? undefined : true));
    assert.equal((await run('retry', '--queue', 'maildir:example.com')).out, '1 message in maildir:example.com due now\n');
    await s.waitForMail('example.com', 'stuck', 2);

    await breakMailbox(s, 'example.com', 'gone');
    const quiet = await sendMail(s, 'sender@example.org', ['gone@example.com']);
    await deferred(s, quiet);
    const loud = await sendMail(s, 'sender@example.org', ['gone@example.com']);
    await deferred(s, loud);
    assert.equal((await run('delete', quiet)).out, `deleted ${quiet} (no report sent)\n`);
    assert.equal((await run('delete', loud, '--ndr')).out, `deleted ${loud}; its sender gets a non-delivery report\n`);
    const [report] = await s.waitForMail('example.org', 'sender', 1);
    assert.match(report!.toString('latin1'), /Final-Recipient: rfc822; ?gone@example\.com/i);
    await until('the spool to drain', () => (s.spool.stats().messages === 0 ? true : undefined));
    assert.equal((await s.mailbox('example.org', 'sender')).length, 1, 'a report only for --ndr');

    const refused = await run('release', a);
    assert.equal(refused.code, 1, 'the message is gone');
    assert.match(refused.err, /^sluice: Not Found: no message /);
    const notDelivery = await run('suspend', 'submission');
    assert.equal(notDelivery.code, 1);
    assert.match(notDelivery.err, /^sluice: Bad Request: submission is not a delivery queue .*\n {2}field queue: /);
  });
});

test('sluice queue: usage mistakes exit 2 before the API; a read-only token is refused changes (exit 1); --help prints usage', async () => {
  await withQueueServer(async (s) => {
    const run = queue(s);
    const usage: [string[], RegExp][] = [
      [[], /missing command/],
      [['flush'], /unknown command "queue flush"/],
      [['message'], /expected: sluice queue message <id>/],
      [['message', 'not-an-id'], /"not-an-id" is not a queue id/],
      [['show'], /expected: sluice queue show <queue>/],
      [['show', 'maildir:example.com', '--limit', '0'], /--limit "0": expected a whole number from 1 to 1000/],
      [['show', 'maildir:example.com', '--offset', 'x'], /--offset "x"/],
      [['retry'], /expected: sluice queue retry <id> \| --queue <queue>/],
      [['retry', '01ABCDEFGHJKMNPQRSTVWXYZ00', '--queue', 'maildir:example.com'], /not both/],
      [['delete', '01ABCDEFGHJKMNPQRSTVWXYZ00', '--out', 'x'], /--out does not apply to "queue delete"/],
      [['export', '01ABCDEFGHJKMNPQRSTVWXYZ00', '--json'], /--json does not apply to "queue export"/],
      [['list', '--ndr'], /--ndr does not apply to "queue list"/],
      [['list', '--force'], /Unknown option '--force'/],
    ];
    for (const [argv, message] of usage) {
      const r = await run(...argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.match(r.err, message, argv.join(' '));
      assert.equal(r.out, '');
    }
    const help = await run('--help');
    assert.equal(help.code, 0);
    assert.match(help.out, /^Usage: sluice queue <command> \[options\]/);

    await breakMailbox(s, 'example.com', 'stuck');
    const id = await sendMail(s, 'sender@example.org', ['stuck@example.com']);
    await deferred(s, id);
    let tokenOut = '';
    const created = await runAdminCommand(['tokens', 'create', 'viewer', '--json'], { SLUICE_API: `127.0.0.1:${s.api!.port}`, SLUICE_DATA: s.dataDir }, { stdout: (t) => (tokenOut += t), stderr: () => {}, cwd: s.dataDir });
    assert.equal(created, 0);
    const ro = (JSON.parse(tokenOut) as { token: string }).token;
    assert.equal((await run('show', 'maildir:example.com', '--token', ro)).code, 0);
    const denied = await run('delete', id, '--token', ro);
    assert.equal(denied.code, 1);
    assert.match(denied.err, /^sluice: Forbidden: token "viewer" is read-only/);
    assert.ok(s.spool.list().some((m) => m.envelope.id === id), 'still queued');
  });
});
