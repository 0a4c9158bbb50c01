import { test } from 'node:test';
import assert from 'node:assert/strict';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { RawSmtpClient } from '../testing/raw-smtp-client.ts';
import { startTestServer } from '../testing/test-server.ts';
import { segmentFileName } from '../spool/segment-header.ts';

async function send(port: number, rcpt: string, body: string): Promise<string> {
  const c = await RawSmtpClient.connect(port);
  try {
    await c.reply();
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<a@example.com>');
    await c.command(`RCPT TO:<${rcpt}>`);
    assert.equal((await c.command('DATA')).code, 354);
    c.write(`Subject: ${rcpt}\r\n\r\n${body}\r\n.\r\n`);
    return (await c.reply()).lines[0]!;
  } finally {
    c.close();
  }
}

test('a full disk answers 452 4.3.1, never 250, queues nothing half, and the server recovers', async () => {
  const s = await startTestServer({ spool: { segmentBytes: 64 * 1024 } });
  try {
    assert.match(await send(s.port, 'first@example.com', 'x'.repeat(100)), /^250 /);
    // The next journal segment is /dev/full: the kernel answers every write with ENOSPC.
    await symlink('/dev/full', join(s.dataDir, 'spool', 'journal', segmentFileName(2)));
    const big = `${'y'.repeat(990)}\r\n`.repeat(70);
    assert.match(await send(s.port, 'lost@example.com', big), /^452 4\.3\.1 /);
    assert.ok(s.logs.some((l) => l.event === 'message.not-accepted' && l.fields.result === 'SPOOL_FULL'));
    // The client retries later: the spool has sealed the bad segment and moved on.
    assert.match(await send(s.port, 'lost@example.com', big), /^250 /);
    await s.waitForMail('example.com', 'first', 1);
    const delivered = await s.waitForMail('example.com', 'lost', 1);
    assert.equal(delivered.length, 1, 'exactly the retried copy');
    assert.ok(delivered[0]!.toString('latin1').endsWith(`\r\n\r\n${big}\r\n`));
  } finally {
    await s.stop();
  }
});
