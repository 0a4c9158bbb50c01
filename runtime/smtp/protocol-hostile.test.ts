import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawSmtpClient } from '../testing/raw-smtp-client.ts';
import { startTestServer, withTestServer, type TestServer } from '../testing/test-server.ts';
import { hashPassword } from './password.ts';


async function greeted(s: TestServer): Promise<RawSmtpClient> {
  const c = await RawSmtpClient.connect(s.port);
  assert.equal((await c.reply()).code, 220);
  return c;
}

async function transaction(c: RawSmtpClient, rcpt = 'victim@example.com'): Promise<void> {
  assert.equal((await c.command('EHLO client.test')).code, 250);
  assert.equal((await c.command('MAIL FROM:<a@example.com>')).code, 250);
  assert.equal((await c.command(`RCPT TO:<${rcpt}>`)).code, 250);
  assert.equal((await c.command('DATA')).code, 354);
}

/** Gives a wrongly accepted message time to reach the spool and a mailbox before asserting it did not. */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 150));
}

const SMUGGLE_ENDINGS: [string, string][] = [
  ['lflf', '\n.\n'],
  ['crcr', '\r.\r'],
  ['crlf', '\r.\n'],
  ['lfcr', '\n.\r'],
  ['lfcrlf', '\n.\r\n'],
  ['crlflf', '\r\n.\n'],
  ['crcrlf', '\r.\r\n'],
  ['crlfcr', '\r\n.\r'],
  ['nullbefore', '\r\n\x00.\r\n'],
];

for (const [name, ending] of SMUGGLE_ENDINGS) {
  test(`SMTP smuggling (${name}): the variant ends nothing, the message is refused and no spoofed message is queued`, async () => {
    await withTestServer(async (s) => {
      const c = await greeted(s);
      await transaction(c);
      c.write(
        `From: a@example.com\r\nSubject: legit\r\n\r\nbody${ending}` +
          'MAIL FROM:<ceo@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n' +
          'From: ceo@example.com\r\nSubject: spoofed\r\n\r\nspoof\r\n.\r\n',
      );
      const r = await c.reply();
      assert.match(r.lines[0]!, /^550 5\.[56]\.[02]/, `${name}: ${r.lines[0]}`);
      const rest = await c.untilClosed();
      assert.equal(rest, '', 'nothing is answered after the refusal');
      assert.ok(c.closed, 'connection closed');
      await settle();
      assert.equal((await s.mailbox('example.com', 'victim')).length, 0, 'no message queued');
      assert.equal(s.spool.stats().messages, 0);
    });
  });
}

test('a message body in one write with a smuggled second transaction yields exactly one message when the ending is exact', async () => {
  await withTestServer(async (s) => {
    const c = await greeted(s);
    await transaction(c);
    // Legitimate: the client sends its message, waits for 250, then the next transaction.
    c.write('Subject: one\r\n\r\nbody\r\n..\r\n.\r\n');
    assert.equal((await c.reply()).code, 250);
    const [m] = await s.waitForMail('example.com', 'victim', 1);
    assert.ok(m!.toString('latin1').endsWith('\r\nSubject: one\r\n\r\nbody\r\n.\r\n'));
  });
});

test('content sent before the 354 is a pipelining violation: 554 5.5.0 and close', async () => {
  await withTestServer(async (s) => {
    const c = await greeted(s);
    await c.command('EHLO client.test');
    c.write('MAIL FROM:<a@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n');
    assert.equal((await c.reply()).code, 250);
    assert.equal((await c.reply()).code, 250);
    assert.match((await c.reply()).lines[0]!, /^554 5\.5\.0/);
    await c.untilClosed();
    assert.ok(c.closed);
    assert.equal(s.spool.stats().messages, 0);
  });
});

test('pipelining allowed by RFC 2920 works: RSET MAIL RCPT DATA in one write, then content after 354', async () => {
  await withTestServer(async (s) => {
    const c = await greeted(s);
    await c.command('EHLO client.test');
    c.write('RSET\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<p@example.com>\r\nRCPT TO:<bad\r\nRCPT TO:<q@example.com>\r\nDATA\r\n');
    const codes = [];
    for (let i = 0; i < 6; i++) codes.push((await c.reply()).code);
    assert.deepEqual(codes, [250, 250, 250, 501, 250, 354]);
    c.write('Subject: p\r\n\r\nx\r\n.\r\nQUIT\r\n');
    assert.equal((await c.reply()).code, 250);
    assert.equal((await c.reply()).code, 221);
    await s.waitForMail('example.com', 'p', 1);
    await s.waitForMail('example.com', 'q', 1);
  });
});

test('commands pipelined behind EHLO are a synchronization error (554)', async () => {
  await withTestServer(async (s) => {
    const c = await greeted(s);
    c.write('EHLO client.test\r\nMAIL FROM:<a@example.com>\r\n');
    assert.match((await c.reply()).lines[0]!, /^554 5\.5\.0/);
    await c.untilClosed();
    assert.ok(c.closed);
  });
});

test('pipelining after HELO (no PIPELINING advertised) is refused', async () => {
  await withTestServer(async (s) => {
    const c = await greeted(s);
    await c.command('HELO client.test');
    c.write('MAIL FROM:<a@example.com>\r\nRCPT TO:<a@example.com>\r\n');
    assert.equal((await c.reply()).code, 554);
  });
});

test('an early talker is refused with 554 when a greeting delay is set', async () => {
  await withTestServer(
    async (s) => {
      const c = await RawSmtpClient.connect(s.port);
      c.write('EHLO client.test\r\n');
      assert.match((await c.reply()).lines[0]!, /^554 5\.5\.0/);
      await c.untilClosed();
      assert.ok(c.closed);
      const patient = await RawSmtpClient.connect(s.port);
      assert.equal((await patient.reply()).code, 220);
      assert.equal((await patient.command('EHLO client.test')).code, 250);
      patient.close();
    },
    { smtp: { greetingDelayMs: 300 } },
  );
});

test('bare LF ends nothing in commands either: 550 5.5.2 and close', async () => {
  await withTestServer(async (s) => {
    const c = await greeted(s);
    c.write('NOOP\n');
    assert.match((await c.reply()).lines[0]!, /^550 5\.5\.2/);
    await c.untilClosed();
    assert.ok(c.closed);
  });
});

test('a 512-octet command is fine; longer is 500 5.5.2 and buffering stays bounded', async () => {
  await withTestServer(async (s) => {
    const c = await greeted(s);
    assert.equal((await c.command(`NOOP ${'x'.repeat(505)}`)).code, 250);
    assert.match((await c.command(`NOOP ${'x'.repeat(506)}`)).lines[0]!, /^500 5\.5\.2 Line too long/);
    c.write('A'.repeat(256 * 1024));
    c.write('\r\n');
    assert.equal((await c.reply()).code, 500);
    assert.equal((await c.command('NOOP')).code, 250);
  });
});

test('fragmented input, one octet per write, gives the same session and message', async () => {
  await withTestServer(async (s) => {
    const c = await greeted(s);
    const script = 'EHLO client.test\r\n';
    await c.writeSlowly(script);
    assert.equal((await c.reply()).code, 250);
    await c.writeSlowly('MAIL FROM:<a@example.com>\r\n');
    assert.equal((await c.reply()).code, 250);
    await c.writeSlowly('RCPT TO:<frag@example.com>\r\n');
    assert.equal((await c.reply()).code, 250);
    await c.writeSlowly('DATA\r\n');
    assert.equal((await c.reply()).code, 354);
    const body = 'Subject: frag\r\n\r\n..dot\r\nline\r\n';
    await c.writeSlowly(`${body}.\r\n`);
    assert.equal((await c.reply()).code, 250);
    const [m] = await s.waitForMail('example.com', 'frag', 1);
    assert.ok(m!.toString('latin1').endsWith('\r\nSubject: frag\r\n\r\n.dot\r\nline\r\n'));
  });
});

test('STARTTLS: plaintext pipelined after it is discarded, and the session starts over', async () => {
  await withTestServer(async (s) => {
    const c = await greeted(s);
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<a@example.com>');
    c.write('STARTTLS\r\nRSET\r\nEHLO injected\r\n');
    const r = await c.reply();
    assert.match(r.lines[0]!, /^220 2\.0\.0/);
    await c.startTls();
    // Any reply to the injected commands would arrive now; the next thing we read must answer NOOP.
    assert.equal((await c.command('NOOP')).lines[0], '250 2.0.0 OK');
    assert.match((await c.command('MAIL FROM:<a@example.com>')).lines[0]!, /^503/, 'EHLO state forgotten after TLS');
    const ehlo = await c.command('EHLO client.test');
    assert.ok(!ehlo.lines.some((l) => l.includes('STARTTLS')), 'STARTTLS not offered again');
    assert.match((await c.command('STARTTLS')).lines[0]!, /^554 5\.5\.1/);
    await c.command('MAIL FROM:<a@example.com>');
    await c.command('RCPT TO:<tls@example.com>');
    await c.command('DATA');
    c.write('Subject: tls\r\n\r\nsecret\r\n.\r\n');
    assert.equal((await c.reply()).code, 250);
    const [m] = await s.waitForMail('example.com', 'tls', 1);
    assert.match(m!.toString('latin1'), /\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)\r\n\twith ESMTPS id/);
  });
});

test('STARTTLS with an argument is 501', async () => {
  await withTestServer(async (s) => {
    const c = await greeted(s);
    await c.command('EHLO client.test');
    assert.match((await c.command('STARTTLS foo')).lines[0]!, /^501 5\.5\.4/);
  });
});

test('AUTH: offered only over TLS, PLAIN and LOGIN work, failures are counted and close the session', async () => {
  const password = await hashPassword('s3cret', { ln: 10 });
  await withTestServer(
    async (s) => {
      const c = await greeted(s);
      const plain = await c.command('EHLO client.test');
      assert.ok(!plain.lines.some((l) => l.includes('AUTH')), 'no AUTH in cleartext');
      assert.match((await c.command(`AUTH PLAIN ${btoa('\0alice\0s3cret')}`)).lines[0]!, /^538 5\.7\.11/);
      await c.command('STARTTLS');
      await c.startTls();
      const ehlo = await c.command('EHLO client.test');
      assert.ok(ehlo.lines.some((l) => l.endsWith('AUTH PLAIN LOGIN')));
      assert.match((await c.command(`AUTH PLAIN ${btoa('\0alice\0wrong')}`)).lines[0]!, /^535 5\.7\.8/);
      assert.equal((await c.command('AUTH PLAIN')).code, 334);
      assert.match((await c.command('*')).lines[0]!, /^501 5\.0\.0/);
      assert.equal((await c.command('AUTH LOGIN')).code, 334);
      assert.equal((await c.command(btoa('alice'))).code, 334);
      assert.match((await c.command(btoa('s3cret'))).lines[0]!, /^235 2\.7\.0/);
      assert.match((await c.command(`AUTH PLAIN ${btoa('\0alice\0s3cret')}`)).lines[0]!, /^503/);
      await c.command('MAIL FROM:<alice@example.com>');
      assert.equal((await c.command('RCPT TO:<far@elsewhere.test>')).code, 250, 'authenticated clients may relay');
      const d = await greeted(s);
      await d.command('EHLO client.test');
      await d.command('STARTTLS');
      await d.startTls();
      await d.command('EHLO client.test');
      assert.equal((await d.command(`AUTH PLAIN ${btoa('\0alice\0x')}`)).code, 535);
      assert.equal((await d.command(`AUTH PLAIN ${btoa('\0bob\0x')}`)).code, 535);
      assert.match((await d.command(`AUTH PLAIN ${btoa('\0alice\0y')}`)).lines[0]!, /^421 4\.7\.0/);
      await d.untilClosed();
      assert.ok(d.closed);
      assert.equal((await greeted(s).then((e) => e.command('AUTH PLAIN x'))).code, 503, 'AUTH before EHLO');
    },
    { smtp: { auth: { users: [{ name: 'alice', password }] } } },
  );
});

test('AUTH refuses malformed credentials: bad base64, control characters, foreign authzid', async () => {
  const password = await hashPassword('pw', { ln: 10 });
  await withTestServer(
    async (s) => {
      const c = await greeted(s);
      await c.command('EHLO client.test');
      assert.equal((await c.command('AUTH PLAIN %%%')).code, 501);
      assert.equal((await c.command(`AUTH PLAIN ${btoa('\0ali\r\nce\0pw')}`)).code, 501);
      assert.equal((await c.command(`AUTH PLAIN ${btoa('admin\0alice\0pw')}`)).code, 501);
      assert.equal((await c.command('AUTH CRAM-MD5')).code, 504);
      assert.equal((await c.command(`AUTH PLAIN ${btoa('\0alice\0pw')}`)).code, 235);
    },
    { smtp: { auth: { allowPlaintext: true, users: [{ name: 'alice', password }] } } },
  );
});

test('connection limits: total and per client address get 421', async () => {
  await withTestServer(
    async (s) => {
      const a = await greeted(s);
      const b = await greeted(s);
      const c = await RawSmtpClient.connect(s.port);
      assert.match((await c.reply()).lines[0]!, /^421 4\.7\.0 Too many connections from your address/);
      a.close();
      b.close();
    },
    { smtp: { limits: { connectionsPerClient: 2 } } },
  );
  await withTestServer(
    async (s) => {
      const a = await greeted(s);
      const c = await RawSmtpClient.connect(s.port);
      assert.match((await c.reply()).lines[0]!, /^421 4\.7\.0 Too many connections,/);
      a.close();
    },
    { smtp: { limits: { connections: 1 } } },
  );
});

test('an idle client is dropped with 421 4.4.2 after the command timeout', async () => {
  await withTestServer(
    async (s) => {
      const c = await greeted(s);
      const r = await c.reply(3000);
      assert.match(r.lines[0]!, /^421 4\.4\.2/);
      await c.untilClosed();
      assert.ok(c.closed);
    },
    { smtp: { timeouts: { commandMs: 200 } } },
  );
});

test('a trickling client cannot extend the per-command deadline', async () => {
  await withTestServer(
    async (s) => {
      const c = await greeted(s);
      // The trickle never stops, so a deadline it could extend would never fire.
      const trickle = setInterval(() => c.write('N'), 50);
      try {
        assert.match((await c.reply(5000)).lines[0]!, /^421 4\.4\.2/);
      } finally {
        clearInterval(trickle);
      }
    },
    { smtp: { timeouts: { commandMs: 400 } } },
  );
});

test('a stalled DATA transfer times out and nothing is queued', async () => {
  await withTestServer(
    async (s) => {
      const c = await greeted(s);
      await transaction(c);
      c.write('Subject: slow\r\n\r\npartial');
      assert.match((await c.reply(3000)).lines[0]!, /^421 4\.4\.2/);
      await settle();
      assert.equal(s.spool.stats().messages, 0);
      assert.equal((await s.mailbox('example.com', 'victim')).length, 0);
    },
    { smtp: { timeouts: { dataIdleMs: 300 } } },
  );
});

test('server shutdown says 421 to connected clients', async () => {
  const s = await startTestServer();
  const c = await greeted(s);
  await c.command('EHLO client.test');
  const stopping = s.stop();
  assert.match((await c.reply()).lines[0]!, /^421 4\.3\.2/);
  await stopping;
});

test('the per-connection message limit closes the session with 421 at the next MAIL', async () => {
  await withTestServer(
    async (s) => {
      const c = await greeted(s);
      await c.command('EHLO client.test');
      for (let i = 0; i < 2; i++) {
        await c.command('MAIL FROM:<a@example.com>');
        await c.command('RCPT TO:<many@example.com>');
        await c.command('DATA');
        c.write('Subject: n\r\n\r\nx\r\n.\r\n');
        assert.equal((await c.reply()).code, 250);
      }
      assert.match((await c.command('MAIL FROM:<a@example.com>')).lines[0]!, /^421 4\.7\.0 Too many messages/);
      await c.untilClosed();
      assert.ok(c.closed);
      await s.waitForMail('example.com', 'many', 2);
    },
    { smtp: { limits: { messagesPerConnection: 2 } } },
  );
});

test('BDAT: a chunk that would pass the size limit is 552 5.3.4 and closes; nothing is queued', async () => {
  await withTestServer(
    async (s) => {
      const c = await greeted(s);
      await c.command('EHLO client.test');
      await c.command('MAIL FROM:<a@example.com>');
      await c.command('RCPT TO:<victim@example.com>');
      c.write(`BDAT 600\r\n${'x'.repeat(598)}\r\n`);
      assert.equal((await c.reply()).code, 250);
      c.write(`BDAT 600 LAST\r\n${'y'.repeat(598)}\r\n`);
      assert.match((await c.reply()).lines[0]!, /^552 5\.3\.4/);
      await c.untilClosed();
      assert.ok(c.closed);
      await settle();
      assert.equal(s.spool.stats().messages, 0);
      assert.equal((await s.mailbox('example.com', 'victim')).length, 0);
    },
    { smtp: { limits: { messageSize: 1024 } } },
  );
});

test('BDAT: a bare LF inside a chunk is refused and closes; BDAT without a transaction closes too', async () => {
  await withTestServer(async (s) => {
    const c = await greeted(s);
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<a@example.com>');
    await c.command('RCPT TO:<victim@example.com>');
    c.write('BDAT 12 LAST\r\nSubject: x\nb');
    assert.match((await c.reply()).lines[0]!, /^550 5\.5\.2 Error: bare <LF>/);
    await c.untilClosed();
    assert.ok(c.closed);
    const d = await greeted(s);
    await d.command('EHLO client.test');
    d.write('BDAT 5 LAST\r\nhello');
    assert.match((await d.reply()).lines[0]!, /^503 5\.5\.1/);
    await d.untilClosed();
    assert.ok(d.closed);
    assert.equal(s.spool.stats().messages, 0);
  });
});
