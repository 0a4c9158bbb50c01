import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RawSmtpClient } from '../testing/raw-smtp-client.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import type { ConfigInput } from '../config/schema.ts';

/** Runs `body` against a fresh server and a connected client that has read the greeting. */
async function withSession(fn: (c: RawSmtpClient, s: TestServer) => Promise<void>, config: ConfigInput = {}): Promise<void> {
  const server = await startTestServer(config);
  const client = await RawSmtpClient.connect(server.port);
  try {
    const greeting = await client.reply();
    assert.equal(greeting.code, 220);
    await fn(client, server);
  } finally {
    client.close();
    await server.stop();
  }
}

const MESSAGE = 'From: a@example.com\r\nTo: b@example.com\r\nSubject: t\r\n\r\nhello\r\n';

test('greets, answers EHLO with the advertised extensions and QUIT with 221', async () => {
  await withSession(async (c) => {
    const ehlo = await c.command('EHLO client.test');
    assert.equal(ehlo.code, 250);
    const ext = ehlo.lines.slice(1).map((l) => l.slice(4));
    for (const want of ['PIPELINING', 'SIZE 26214400', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'CHUNKING', 'DSN', 'STARTTLS']) {
      assert.ok(ext.includes(want), `missing ${want} in ${ext.join(',')}`);
    }
    assert.ok(!ext.some((e) => e.startsWith('AUTH')), 'AUTH must not be offered without users');
    assert.deepEqual([(await c.command('QUIT')).code], [221]);
    await c.untilClosed();
    assert.ok(c.closed);
  });
});

test('enforces command order: MAIL before EHLO, RCPT before MAIL, DATA before RCPT, nested MAIL', async () => {
  await withSession(async (c) => {
    assert.match((await c.command('MAIL FROM:<a@example.com>')).lines[0]!, /^503 5\.5\.1/);
    await c.command('EHLO client.test');
    assert.match((await c.command('RCPT TO:<b@example.com>')).lines[0]!, /^503 5\.5\.1/);
    assert.match((await c.command('DATA')).lines[0]!, /^503 5\.5\.1/);
    assert.equal((await c.command('MAIL FROM:<a@example.com>')).code, 250);
    assert.match((await c.command('MAIL FROM:<a@example.com>')).lines[0]!, /^503 5\.5\.1/);
    assert.match((await c.command('DATA')).lines[0]!, /^554 5\.5\.1/);
    assert.equal((await c.command('RSET')).code, 250);
    assert.match((await c.command('RCPT TO:<b@example.com>')).lines[0]!, /^503/);
  });
});

test('accepts a message and delivers it to the recipient Maildir with a trace header', async () => {
  await withSession(async (c, s) => {
    await c.command('EHLO client.test');
    assert.equal((await c.command('MAIL FROM:<a@example.com>')).code, 250);
    assert.equal((await c.command('RCPT TO:<Bob@Example.COM>')).code, 250);
    assert.equal((await c.command('DATA')).code, 354);
    c.write(`${MESSAGE}.\r\n`);
    const done = await c.reply();
    assert.match(done.lines[0]!, /^250 2\.0\.0 OK: queued as [0-9A-Za-z]+$/);
    const [file] = await s.waitForMail('example.com', 'bob', 1);
    const text = file!.toString('latin1');
    assert.match(text, /^Return-Path: <[^>]*>\r\nReceived: from client\.test \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test \(Sluice\)\r\n\twith ESMTP id [0-9A-Za-z]+\r\n\tfor <Bob@Example\.COM>; /);
    assert.ok(text.endsWith(`\r\n${MESSAGE}`), 'message bytes follow the trace header unchanged');
  });
});

test('replies carry RFC 3463 enhanced status codes', async () => {
  await withSession(async (c) => {
    await c.command('EHLO client.test');
    for (const cmd of ['NOOP', 'RSET', 'VRFY someone', 'HELP', 'MAIL FROM:<a@example.com>', 'RCPT TO:<b@example.com>', 'BOGUS']) {
      const r = await c.command(cmd);
      assert.match(r.lines.at(-1)!, /^\d{3}[ -][245]\.\d{1,3}\.\d{1,3} /, `${cmd}: ${r.lines.join('|')}`);
    }
    assert.equal((await c.command('VRFY someone')).code, 252);
  });
});

test('is not an open relay: foreign recipients are refused without AUTH or a relay network', async () => {
  await withSession(async (c) => {
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<a@example.com>');
    assert.match((await c.command('RCPT TO:<x@elsewhere.test>')).lines[0]!, /^554 5\.7\.1 Relay access denied/);
    assert.equal((await c.command('RCPT TO:<postmaster>')).code, 250);
  });
});

test('relays for clients in a configured relay network', async () => {
  await withSession(
    async (c) => {
      await c.command('EHLO client.test');
      await c.command('MAIL FROM:<a@example.com>');
      assert.equal((await c.command('RCPT TO:<x@elsewhere.test>')).code, 250);
    },
    { smtp: { relayNetworks: ['127.0.0.0/8'] } },
  );
});

test('accepts 100 recipients and answers the 101st with 452 4.5.3', async () => {
  await withSession(async (c, s) => {
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<a@example.com>');
    for (let i = 0; i < 100; i++) assert.equal((await c.command(`RCPT TO:<u${i}@example.com>`)).code, 250);
    assert.match((await c.command('RCPT TO:<u100@example.com>')).lines[0]!, /^452 4\.5\.3/);
    await c.command('DATA');
    c.write(`${MESSAGE}.\r\n`);
    assert.equal((await c.reply()).code, 250);
    await s.waitForMail('example.com', 'u99', 1);
    assert.equal((await s.mailbox('example.com', 'u100')).length, 0);
  });
});

test('SIZE: declared too big is 552 5.3.4, malformed is 501, an undeclared oversize body is 552 after the dot', async () => {
  await withSession(
    async (c, s) => {
      await c.command('EHLO client.test');
      assert.match((await c.command('MAIL FROM:<a@example.com> SIZE=2048')).lines[0]!, /^552 5\.3\.4/);
      for (const bad of ['SIZE=abc', 'SIZE=-1', 'SIZE=', 'SIZE=1e308', 'SIZE=0x10']) {
        assert.equal((await c.command(`MAIL FROM:<a@example.com> ${bad}`)).code, 501, bad);
      }
      assert.equal((await c.command('MAIL FROM:<a@example.com> SIZE=100')).code, 250);
      await c.command('RCPT TO:<big@example.com>');
      await c.command('DATA');
      c.write(`Subject: big\r\n\r\n${'x'.repeat(100)}\r\n`.repeat(20) + '.\r\n');
      assert.match((await c.reply()).lines[0]!, /^552 5\.3\.4/);
      assert.equal((await c.command('NOOP')).code, 250, 'session continues after a rejected message');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal((await s.mailbox('example.com', 'big')).length, 0);
    },
    { smtp: { limits: { messageSize: 1024 } } },
  );
});

test('refuses a text line over 1000 octets after the dot and keeps the session', async () => {
  await withSession(async (c) => {
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<a@example.com>');
    await c.command('RCPT TO:<b@example.com>');
    await c.command('DATA');
    c.write(`Subject: x\r\n\r\n${'y'.repeat(998)}\r\n${'z'.repeat(999)}\r\n.\r\n`);
    assert.match((await c.reply()).lines[0]!, /^550 5\.5\.2 .*1000/);
    assert.equal((await c.command('NOOP')).code, 250);
  });
});

test('parses DSN parameters and refuses malformed ones with 501', async () => {
  await withSession(async (c) => {
    await c.command('EHLO client.test');
    assert.equal((await c.command('MAIL FROM:<a@example.com> RET=HDRS ENVID=abc+2Bdef')).code, 250);
    assert.equal((await c.command('RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40example.com')).code, 250);
    assert.equal((await c.command('RCPT TO:<c@example.com> NOTIFY=NEVER,SUCCESS')).code, 501);
    assert.equal((await c.command('RCPT TO:<c@example.com> ORCPT=b@example.com')).code, 501);
    assert.equal((await c.command('RCPT TO:<c@example.com> NOTIFY=NEVER NOTIFY=NEVER')).code, 501);
    await c.command('RSET');
    assert.equal((await c.command('MAIL FROM:<a@example.com> ENVID=ab+0D+0Acd')).code, 501);
    assert.equal((await c.command('MAIL FROM:<a@example.com> RET=FULL RET=HDRS')).code, 501);
    assert.equal((await c.command('MAIL FROM:<a@example.com> OPT')).code, 555);
    assert.equal((await c.command('MAIL FROM:<a@example.com> BODY=BINARYMIME')).code, 504);
  });
});

test('stores DSN parameters with the envelope', async () => {
  await withSession(async (c, s) => {
    // Keep the message in the spool: its mailbox cannot be created, so delivery is deferred.
    await mkdir(join(s.mailboxDir, 'example.com', 'b'), { recursive: true });
    await writeFile(join(s.mailboxDir, 'example.com', 'b', 'new'), 'not a directory');
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<a@example.com> RET=HDRS ENVID=abc+2Bdef');
    await c.command('RCPT TO:<b@example.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b+40example.com');
    await c.command('DATA');
    c.write(`${MESSAGE}.\r\n`);
    const id = /queued as (\S+)/.exec((await c.reply()).text)![1]!;
    // The queue runner holds a lease while it tries and records the deferral; claim once it let go.
    let claim: Awaited<ReturnType<typeof s.spool.claim>>[number] | undefined;
    for (let i = 0; i < 500 && claim === undefined; i++) {
      if (s.logs.some((l) => l.event === 'message.deferred' && l.fields.id === id)) [claim] = await s.spool.claim(Date.now() + 24 * 3600_000, 10, 1000);
      if (claim === undefined) await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(claim?.envelope.id, id);
    const env = claim!.envelope;
    assert.equal(env.sender, 'a@example.com');
    assert.equal(env.ret, 'HDRS');
    assert.equal(env.envid, 'abc+def');
    assert.deepEqual(env.recipients, [{ address: 'b@example.com', notify: ['SUCCESS', 'DELAY'], orcpt: { type: 'rfc822', address: 'b@example.com' } }]);
    assert.deepEqual(env.client, { address: '127.0.0.1', port: env.client.port, helo: 'client.test', tls: false });
  });
});

test('addresses: non-ASCII needs SMTPUTF8 (553 5.6.7), controls and bad syntax are 501', async () => {
  await withSession(async (c, s) => {
    await c.command('EHLO client.test');
    const utf8 = async (line: string): Promise<number> => {
      c.write(Buffer.from(`${line}\r\n`, 'utf8'));
      return (await c.reply()).code;
    };
    c.write(Buffer.from('MAIL FROM:<pelé@example.com>\r\n', 'utf8'));
    assert.match((await c.reply()).lines[0]!, /^553 5\.6\.7/);
    assert.equal(await utf8('MAIL FROM:<a\u200b@example.com>'), 501);
    for (const bad of ['<a>', '<a@>', '<@a>', '< @a>', 'a@example.com']) {
      assert.equal((await c.command(`MAIL FROM:${bad}`)).code, 501, bad);
    }
    assert.equal(await utf8('MAIL FROM:<pelé@example.com> SMTPUTF8'), 250);
    assert.equal(await utf8('RCPT TO:<josé@example.com>'), 250);
    await c.command('DATA');
    c.write(`Subject: caf\xc3\xa9\r\n\r\n\xc3\xa9\r\n.\r\n`);
    assert.equal((await c.reply()).code, 250);
    const [m] = await s.waitForMail('example.com', 'josé', 1);
    assert.match(m!.toString('latin1'), /with UTF8SMTP id/);
  });
});

test('accepts the null sender and strips source routes', async () => {
  await withSession(async (c) => {
    await c.command('EHLO client.test');
    assert.equal((await c.command('MAIL FROM:<>')).code, 250);
    await c.command('RSET');
    assert.equal((await c.command('MAIL FROM:<@r1.test,@r2.test:s@example.com>')).code, 250);
  });
});

test('BDAT: chunks assemble into one message, LAST commits it', async () => {
  await withSession(async (c, s) => {
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<a@example.com>');
    await c.command('RCPT TO:<chunky@example.com>');
    const part1 = 'Subject: chunks\r\n\r\nfirst ';
    const part2 = 'second\r\n.dot stays\r\n';
    c.write(`BDAT ${part1.length}\r\n${part1}`);
    assert.match((await c.reply()).lines[0]!, /^250 2\.0\.0/);
    c.write(`BDAT ${part2.length} LAST\r\n${part2}`);
    assert.match((await c.reply()).lines[0]!, /^250 2\.0\.0 OK: queued/);
    const [m] = await s.waitForMail('example.com', 'chunky', 1);
    assert.ok(m!.toString('latin1').endsWith(part1 + part2));
  });
});

test('HELO/EHLO need exactly one valid argument', async () => {
  await withSession(async (c) => {
    assert.equal((await c.command('EHLO')).code, 501);
    assert.equal((await c.command('HELO a b')).code, 501);
    assert.equal((await c.command('EHLO [999.1.1.1]')).code, 501);
    assert.equal((await c.command('HELO client.test')).code, 250);
    assert.equal((await c.command('EHLO [127.0.0.1]')).code, 250);
  });
});

test('unknown commands are 500 5.5.2 and the tenth closes the connection with 421', async () => {
  await withSession(async (c) => {
    for (let i = 0; i < 9; i++) assert.equal((await c.command(`ZOOP${i}`)).code, 500);
    assert.match((await c.command('ZOOP')).lines[0]!, /^421 4\.7\.0/);
    await c.untilClosed();
    assert.ok(c.closed);
  });
});

test('too many errors close the session with 421', async () => {
  await withSession(
    async (c) => {
      await c.command('EHLO client.test');
      for (let i = 0; i < 5; i++) assert.equal((await c.command('MAIL FROM:<bad>')).code, 501);
      assert.match((await c.reply()).lines[0]!, /^421 4\.7\.0 Too many errors/);
      await c.untilClosed(2000);
      assert.ok(c.closed);
    },
    { smtp: { limits: { errors: 5 } } },
  );
});

test('an HTTP request is answered 421 and closed', async () => {
  await withSession(async (c) => {
    c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal((await c.reply()).code, 421);
    await c.untilClosed();
    assert.ok(c.closed);
  });
});

test('NUL and invalid UTF-8 in a command are refused, never reinterpreted', async () => {
  await withSession(async (c) => {
    await c.command('EHLO client.test');
    assert.equal((await c.command('NO\x00OP')).code, 500);
    assert.equal((await c.command('MAIL FROM:<a\xc0\xaf@example.com> SMTPUTF8')).code, 501);
  });
});
