import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { format } from 'node:util';
import nodemailer, { type SMTPTransportOptions } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import { hashPassword } from './password.ts';
import { withTestServer, type TestServer } from '../testing/test-server.ts';
import { assertSameBytes, splitTrace } from '../testing/maildir-assert.ts';

// Interop with nodemailer's SMTP client: every message is composed first (so the exact bytes are
// known), then sent as `raw`, and must land in the Maildir as `Received:` header + those bytes.

const CRLF = Buffer.from('\r\n');

/** MailComposer output, guaranteed to end in CRLF (the final CRLF belongs to the message on the wire). */
async function compose(mail: ConstructorParameters<typeof MailComposer>[0]): Promise<Buffer> {
  const built = await new MailComposer(mail).compile().build();
  return built.subarray(-2).equals(CRLF) ? built : Buffer.concat([built, CRLF]);
}

/**
 * A text part sent as 8bit UTF-8. MimeNode always picks quoted-printable or base64 for non-ASCII
 * text, so the part is handed over pregenerated.
 */
function eightBitText(text: string): { raw: string } {
  return { raw: `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${text}` };
}



interface Transcript {
  lines: string[];
}

/** A bunyan-shaped logger that keeps nodemailer's protocol transcript (`debug: true`). */
function transcriptLogger(t: Transcript): Record<string, (entry: { tnx?: string }, message: string, ...args: unknown[]) => void> {
  const keep = (entry: { tnx?: string }, message: string, ...args: unknown[]): void => {
    const text = format(message, ...args);
    const who = entry.tnx === 'client' ? 'C' : entry.tnx === 'server' ? 'S' : '-';
    // Message data is logged too; keep it out of the transcript.
    if (text.length < 1000) t.lines.push(`${who}: ${text}`);
  };
  return { trace: keep, debug: keep, info: keep, warn: keep, error: keep, fatal: keep };
}


function transportFor(s: TestServer, extra: SMTPTransportOptions = {}, transcript?: Transcript) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port: s.port,
    secure: false,
    name: 'client.test',
    tls: { rejectUnauthorized: false },
    ...(transcript ? { logger: transcriptLogger(transcript), debug: true } : {}),
    ...extra,
  } as SMTPTransportOptions);
}

test('nodemailer: a plain message arrives byte for byte behind one Received header', async () => {
  await withTestServer(async (s) => {
    const raw = await compose({
      from: 'Alice <alice@example.org>',
      to: 'Bob <bob@example.com>',
      subject: 'plain interop',
      // CRLF: MailComposer keeps bare LFs of 7bit text, which nodemailer's DATA stream would rewrite.
      text: 'Hello Bob.\r\n.A line that starts with a dot.\r\n..and two dots.\r\n.\r\nBye.\r\n',
    });
    assert.ok(raw.includes('\r\n.A line'), 'the message exercises dot-stuffing');
    const transport = transportFor(s, { ignoreTLS: true });
    try {
      const info = await transport.sendMail({ envelope: { from: 'alice@example.org', to: ['bob@example.com'] }, raw });
      assert.match(info.response, /^250 2\.0\.0 OK: queued as [0-9A-Za-z]+$/);
      assert.deepEqual(info.accepted, ['bob@example.com']);
      assert.deepEqual(info.rejected, []);
    } finally {
      transport.close();
    }
    const [file] = await s.waitForMail('example.com', 'bob', 1);
    const { trace, body } = splitTrace(file!);
    assert.match(trace, /\r\n\twith ESMTP id [0-9A-Za-z]+\r\n\tfor <bob@example\.com>; /);
    assert.doesNotMatch(trace, /using TLS/);
    assertSameBytes(body, raw, 'plain message');
  });
});

for (const method of ['PLAIN', 'LOGIN'] as const) {
  test(`nodemailer: STARTTLS then AUTH ${method}, traced as ESMTPSA with the TLS protocol`, async () => {
    const password = `pw-${method}-ünï`;
    const hash = await hashPassword(password, { ln: 10 });
    await withTestServer(
      async (s) => {
        const raw = await compose({
          from: 'Carol <carol@example.com>',
          to: 'Dave <dave@example.org>',
          subject: `authenticated with ${method}`,
          text: 'Sent after STARTTLS and AUTH.\r\n',
        });
        const transcript: Transcript = { lines: [] };
        const transport = transportFor(s, { requireTLS: true, auth: { user: 'carol', pass: password, method } }, transcript);
        try {
          const info = await transport.sendMail({ envelope: { from: 'carol@example.com', to: ['dave@example.org'] }, raw });
          assert.match(info.response, /^250 2\.0\.0 /);
        } finally {
          transport.close();
        }
        const client = transcript.lines.filter((l) => l.startsWith('C: '));
        const starttls = client.findIndex((l) => l === 'C: STARTTLS');
        const auth = client.findIndex((l) => l.startsWith(`C: AUTH ${method}`));
        assert.ok(starttls !== -1 && auth > starttls, `AUTH ${method} after STARTTLS:\n${transcript.lines.join('\n')}`);
        assert.ok(
          transcript.lines.some((l) => /^S: 235 /.test(l)),
          `235 for AUTH:\n${transcript.lines.join('\n')}`,
        );
        assert.ok(s.logs.some((l) => l.event === 'smtp.auth.ok' && l.fields.user === 'carol'));

        const [file] = await s.waitForMail('example.org', 'dave', 1);
        const { trace, body } = splitTrace(file!);
        assert.match(trace, /\r\n\t\(using TLSv1\.[23] with cipher [A-Za-z0-9_-]+\)\r\n\twith ESMTPSA id [0-9A-Za-z]+\r\n/);
        assertSameBytes(body, raw, `AUTH ${method} message`);
      },
      { smtp: { auth: { users: [{ name: 'carol', password: hash }] } } },
    );
  });
}

test('nodemailer: an SMTPUTF8 sender with raw UTF-8 headers and an 8bit body is stored unchanged', async () => {
  await withTestServer(async (s) => {
    const subject = 'Grüße aus Köln — 日本語の件名 🚀';
    const text = 'Ünïcödé body: naïve café, Ελληνικά, русский, 中文, emoji 🎉.\r\n.Dot-led line with ß and €.\r\n';
    const raw = await compose({
      from: 'José <josé@example.com>',
      to: 'Zoë <zoë@example.org>',
      // A prepared header goes out as is: RFC 6532 UTF-8 rather than an encoded word.
      headers: { Subject: { prepared: true, value: subject } },
      text: eightBitText(text),
      attachments: [{ filename: 'naïve-café.txt', content: Buffer.from('Ünïcödé attachment\r\n') }],
    });
    const str = raw.toString('utf8');
    assert.ok(`\r\n${str}`.includes(`\r\nSubject: ${subject}\r\n`), 'the subject is raw UTF-8');
    assert.ok(str.includes(`Content-Transfer-Encoding: 8bit\r\n\r\n${text}`), 'the body is raw 8bit UTF-8');
    assert.ok(str.includes('<josé@example.com>'), 'the From address is raw UTF-8');

    const transcript: Transcript = { lines: [] };
    const transport = transportFor(s, { ignoreTLS: true }, transcript);
    try {
      const info = await transport.sendMail({ envelope: { from: 'josé@example.com', to: ['zoë@example.org'] }, raw });
      assert.match(info.response, /^250 2\.0\.0 /);
    } finally {
      transport.close();
    }
    const mail = transcript.lines.find((l) => l.startsWith('C: MAIL FROM:'));
    assert.ok(mail !== undefined && / SMTPUTF8\b/.test(mail), `MAIL FROM carries SMTPUTF8: ${mail}`);

    const [file] = await s.waitForMail('example.org', 'zoë', 1);
    const { trace, body } = splitTrace(file!);
    assert.match(trace, /\r\n\twith UTF8SMTP id [0-9A-Za-z]+\r\n\tfor <zoë@example\.org>; /);
    assertSameBytes(body, raw, 'UTF-8 message');
  });
});

test('nodemailer: one message to five recipients on two domains gives five identical copies', async () => {
  await withTestServer(async (s) => {
    const to = ['r1@example.com', 'r2@example.com', 'R3@Example.COM', 'r4@example.org', 'r5@example.org'];
    const raw = await compose({ from: 'list@example.com', to: to.join(', '), subject: 'five recipients', text: 'One body, five mailboxes.\r\n' });
    const transport = transportFor(s, { ignoreTLS: true });
    try {
      const info = await transport.sendMail({ envelope: { from: 'list@example.com', to }, raw });
      assert.match(info.response, /^250 2\.0\.0 /);
      assert.deepEqual(info.accepted.map((a: string) => a.toLowerCase()).sort(), to.map((a) => a.toLowerCase()).sort());
    } finally {
      transport.close();
    }
    const ids = new Set<string>();
    for (const [domain, local] of [
      ['example.com', 'r1'],
      ['example.com', 'r2'],
      ['example.com', 'r3'],
      ['example.org', 'r4'],
      ['example.org', 'r5'],
    ] as const) {
      const files = await s.waitForMail(domain, local, 1);
      assert.equal(files.length, 1, `${local}@${domain} holds one copy`);
      const { trace, body } = splitTrace(files[0]!);
      // Several recipients: the trace header must not name any of them.
      assert.doesNotMatch(trace, /\bfor </, `${local}@${domain}: ${trace}`);
      ids.add(/ id ([0-9A-Za-z]+)/.exec(trace)![1]!);
      assertSameBytes(body, raw, `${local}@${domain}`);
    }
    assert.equal(ids.size, 1, 'all copies come from one queued message');
  });
});

test('nodemailer: a 10 MB message with attachments and long 8bit lines arrives intact', async () => {
  await withTestServer(async (s) => {
    // 998 octets per line is the RFC 5322 limit; fill lines to exactly that, mixing UTF-8.
    const line = ('é'.repeat(99) + 'x'.repeat(800)).slice(0, 998 - 99);
    assert.equal(Buffer.byteLength(line), 998);
    const text = `${line}\r\n`.repeat(2000);
    const raw = await compose({
      from: 'big@example.com',
      to: 'bulk@example.com',
      subject: 'ten megabytes',
      text: eightBitText(text),
      attachments: [
        { filename: 'random.bin', content: randomBytes(4 * 1024 * 1024) },
        { filename: 'zeros.bin', content: Buffer.alloc(2 * 1024 * 1024) },
      ],
    });
    assert.ok(raw.length >= 10 * 1024 * 1024, `message is ${raw.length} bytes`);
    let longest = 0;
    for (let at = 0; at < raw.length; ) {
      const eol = raw.indexOf(CRLF, at);
      longest = Math.max(longest, eol - at);
      at = eol + 2;
    }
    assert.ok(longest <= 998, `longest line is ${longest} octets`);

    const transport = transportFor(s, { ignoreTLS: true });
    try {
      const info = await transport.sendMail({ envelope: { from: 'big@example.com', to: ['bulk@example.com'], size: raw.length }, raw });
      assert.match(info.response, /^250 2\.0\.0 /);
    } finally {
      transport.close();
    }
    const [file] = await s.waitForMail('example.com', 'bulk', 1, 30_000);
    const { body } = splitTrace(file!);
    assertSameBytes(body, raw, '10 MB message');
  });
});
