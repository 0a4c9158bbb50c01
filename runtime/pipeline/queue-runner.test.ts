import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RawSmtpClient } from '../testing/raw-smtp-client.ts';
import { withTestServer, type TestServer } from '../testing/test-server.ts';

async function send(s: TestServer, rcpts: string[]): Promise<string> {
  const c = await RawSmtpClient.connect(s.port);
  try {
    await c.reply();
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<a@example.com>');
    for (const r of rcpts) assert.equal((await c.command(`RCPT TO:<${r}>`)).code, 250);
    await c.command('DATA');
    c.write('Subject: retry\r\n\r\nbody\r\n.\r\n');
    return /queued as (\S+)/.exec((await c.reply()).text)![1]!;
  } finally {
    c.close();
  }
}

/** Makes a mailbox undeliverable for now: its `new` is a regular file, so creating the Maildir fails. */
async function breakMailbox(s: TestServer, local: string): Promise<string> {
  const dir = join(s.mailboxDir, 'example.com', local);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'new'), 'not a directory');
  return join(dir, 'new');
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a temporary mailbox failure is deferred, retried on schedule, then delivered once', async () => {
  await withTestServer(
    async (s) => {
      const blocker = await breakMailbox(s, 'stuck');
      const id = await send(s, ['stuck@example.com', 'fine@example.com']);
      await s.waitForMail('example.com', 'fine', 1);
      await until('the deferral', () => s.logs.some((l) => l.event === 'message.deferred' && l.fields.id === id));
      const deferred = s.logs.find((l) => l.event === 'message.deferred' && l.fields.id === id)!;
      assert.deepEqual(deferred.fields.to, ['stuck@example.com']);
      assert.match(String(deferred.fields.reply), /^451 4\.3\.0 /);
      await rm(blocker);
      const [m] = await s.waitForMail('example.com', 'stuck', 1);
      assert.match(m!.toString('latin1'), /Subject: retry/);
      // The line is written once the spool has recorded the delivery, a moment after the file appears.
      await until('the delivery line', () => s.logs.some((l) => l.event === 'message.delivered' && l.fields.id === id && String(l.fields.to) === 'stuck@example.com'));
      const delivered = s.logs.filter((l) => l.event === 'message.delivered' && l.fields.id === id);
      assert.deepEqual(delivered.at(-1)!.fields.to, ['stuck@example.com']);
      assert.ok(Number(delivered.at(-1)!.fields.attempt) >= 2, 'delivered on a retry');
      assert.equal((await s.mailbox('example.com', 'fine')).length, 1, 'the recipient already delivered is not delivered again');
      await until('the spool to drain', () => s.spool.stats().messages === 0);
    },
    { delivery: { retry: { firstMs: 150, maxMs: 300, expireMs: 60_000 } } },
  );
});

test('a recipient still failing when the message expires fails for good and the message leaves the spool', async () => {
  await withTestServer(
    async (s) => {
      await breakMailbox(s, 'gone');
      const id = await send(s, ['gone@example.com']);
      await until('the final failure', () => s.logs.some((l) => l.event === 'message.failed' && l.fields.id === id));
      await until('the spool to drain', () => s.spool.stats().messages === 0);
      assert.ok(s.logs.filter((l) => l.event === 'message.deferred' && l.fields.id === id).length >= 1);
      const failed = s.logs.find((l) => l.event === 'message.failed' && l.fields.id === id)!;
      assert.match(String(failed.fields.reply), /^451 4\.3\.0 .*\(gave up: in the queue since /);
    },
    { delivery: { retry: { firstMs: 100, maxMs: 100, expireMs: 400 } } },
  );
});
