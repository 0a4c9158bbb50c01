import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { hashPassword } from './password.ts';
import { withTestServer } from '../testing/test-server.ts';
import { assertSameBytes, splitTrace } from '../testing/maildir-assert.ts';

// Interop with Python's smtplib, run as a child process (python3 >= 3.8). The message bytes go to
// the child on stdin and are sent with sendmail(bytes), which only dot-stuffs (and appends a final
// CRLF when missing), so CRLF input is exactly the DATA content; the Maildir file must be the
// server's `Received:` header followed by those bytes.

/**
 * The client. Reads a JSON job from argv[1] and the message from stdin; prints one JSON object:
 * the transcript (commands with their replies), the refused recipients, and the bytes handed to
 * sendmail (base64, for send_message, whose flattening the test cannot know in advance).
 */
const CLIENT = String.raw`
import base64, json, smtplib, ssl, sys
from email.message import EmailMessage
from email import policy

job = json.loads(sys.argv[1])
data = sys.stdin.buffer.read()

class Recording(smtplib.SMTP):
    def __init__(self, *args, **kwargs):
        self.transcript = []
        self.handed = None
        super().__init__(*args, **kwargs)
    def putcmd(self, cmd, args=""):
        self.transcript.append({"c": (cmd + " " + args) if args else cmd})
        super().putcmd(cmd, args)
    def getreply(self):
        code, msg = super().getreply()
        self.transcript.append({"s": code, "text": msg.decode("utf-8", "replace")})
        return code, msg
    def sendmail(self, from_addr, to_addrs, msg, mail_options=(), rcpt_options=()):
        self.handed = msg
        return super().sendmail(from_addr, to_addrs, msg, mail_options, rcpt_options)

if job["mode"] == "handshakes":
    # Separate connections, each EHLO, STARTTLS, EHLO, QUIT; stop at the first failure.
    done, failure = 0, None
    for i in range(job["count"]):
        try:
            c = smtplib.SMTP("127.0.0.1", job["port"], local_hostname="client.test", timeout=job["timeout"])
            c.ehlo()
            c.starttls(context=ssl._create_unverified_context())
            code, _ = c.ehlo()
            c.quit()
            if code != 250:
                raise smtplib.SMTPException("EHLO after STARTTLS answered %d" % code)
            done += 1
        except Exception as e:
            failure = "connection %d: %s: %s" % (i, type(e).__name__, e)
            break
    print(json.dumps({"handshakes": done, "failure": failure}))
    sys.exit(0)

out = {"refused": None, "error": None}
s = Recording("127.0.0.1", job["port"], local_hostname="client.test", timeout=job.get("timeout", 60))
try:
    s.ehlo()
    if job.get("starttls"):
        s.starttls(context=ssl._create_unverified_context())
        out["tls"] = s.sock.version()
        s.ehlo()
    login = job.get("login")
    if login:
        if login.get("method"):
            s.user, s.password = login["user"], login["password"]
            s.auth(login["method"], getattr(s, "auth_" + login["method"].lower()))
        else:
            s.login(login["user"], login["password"])
    if job["mode"] == "sendmail":
        refused = s.sendmail(job["from"], job["to"], data, job.get("mail_options", []))
        out["refused"] = {k: [code, text.decode("utf-8", "replace")] for k, (code, text) in refused.items()}
    else:
        m = EmailMessage(policy=policy.SMTPUTF8)
        m["From"] = job["from"]
        m["To"] = ", ".join(job["to"])
        m["Subject"] = job["subject"]
        m.set_content(data.decode("utf-8"), cte="8bit")
        refused = s.send_message(m)
        out["refused"] = {k: [code, text.decode("utf-8", "replace")] for k, (code, text) in refused.items()}
    s.quit()
except smtplib.SMTPException as e:
    out["error"] = type(e).__name__ + ": " + str(e)
out["transcript"] = s.transcript
out["handed"] = base64.b64encode(s.handed).decode() if job["mode"] != "sendmail" and s.handed is not None else None
print(json.dumps(out))
`;

interface Job {
  port: number;
  mode: 'sendmail' | 'send_message';
  /** Socket timeout of every smtplib operation, in seconds (default 60). */
  timeout?: number;
  from: string;
  to: string[];
  mail_options?: string[];
  subject?: string;
  starttls?: boolean;
  login?: { user: string; password: string; method?: 'PLAIN' | 'LOGIN' };
}

type Entry = { c: string } | { s: number; text: string };

interface Outcome {
  refused: Record<string, [number, string]> | null;
  error: string | null;
  tls?: string;
  transcript: Entry[];
  handed: string | null;
}

function runSmtplib(job: Job, stdin: Uint8Array): Promise<Outcome>;
function runSmtplib(job: { port: number; mode: 'handshakes'; count: number; timeout: number }, stdin: Uint8Array): Promise<{ handshakes: number; failure: string | null }>;
function runSmtplib(job: object, stdin: Uint8Array): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', CLIENT, JSON.stringify(job)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.stdin.on('error', () => {});
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code !== 0) return reject(new Error(`python3 exited with ${code}\n${stderr}\n${stdout}`));
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new Error(`unparsable output from python3: ${stdout}\n${stderr}`));
      }
    });
    child.stdin.end(stdin);
  });
}

/** The reply to the first command that starts with `prefix`. */
function replyTo(o: Outcome, prefix: string): { s: number; text: string } {
  const at = o.transcript.findIndex((e) => 'c' in e && e.c.startsWith(prefix));
  const next = o.transcript[at + 1];
  assert.ok(at !== -1 && next !== undefined && 's' in next, `no reply to ${prefix} in ${JSON.stringify(o.transcript)}`);
  return next;
}

function commands(o: Outcome): string[] {
  return o.transcript.flatMap((e) => ('c' in e ? [e.c] : []));
}

/** The final reply to DATA: smtplib sends the content without putcmd, so it is the reply after 354. */
function dataReply(o: Outcome): { s: number; text: string } {
  const at = o.transcript.findIndex((e) => 's' in e && e.s === 354);
  const next = o.transcript[at + 1];
  assert.ok(at !== -1 && next !== undefined && 's' in next, `no reply after 354 in ${JSON.stringify(o.transcript)}`);
  return next;
}





const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

test('smtplib: sendmail with bytes delivers them byte for byte, dots and all', async () => {
  await withTestServer(async (s) => {
    const message = utf8(
      'From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\nSubject: smtplib plain\r\n' +
        'Message-ID: <smtplib-plain@example.org>\r\n\r\n' +
        'Hello Bob.\r\n.A line that starts with a dot.\r\n..two dots\r\n.\r\n\r\nTrailing blank line above.\r\n',
    );
    const o = await runSmtplib({ port: s.port, mode: 'sendmail', from: 'alice@example.org', to: ['bob@example.com'] }, message);
    assert.equal(o.error, null);
    assert.deepEqual(o.refused, {});
    assert.equal(o.transcript[0] && 's' in o.transcript[0] ? o.transcript[0].s : 0, 220);
    assert.equal(replyTo(o, 'ehlo').s, 250);
    assert.equal(commands(o).find((c) => c.startsWith('mail')), `mail FROM:<alice@example.org> size=${message.length}`);
    assert.deepEqual(replyTo(o, 'mail'), { s: 250, text: '2.1.0 Sender OK' });
    assert.deepEqual(replyTo(o, 'rcpt'), { s: 250, text: '2.1.5 Recipient OK' });
    assert.match(dataReply(o).text, /^2\.0\.0 OK: queued as [0-9A-Za-z]+$/);
    assert.equal(dataReply(o).s, 250);
    assert.equal(replyTo(o, 'quit').s, 221);

    const [file] = await s.waitForMail('example.com', 'bob', 1);
    const { trace, body } = splitTrace(file!);
    assert.match(trace, /^Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test \(Sluice\)\r\n\twith ESMTP id [0-9A-Za-z]+\r\n\tfor <bob@example\.com>; /);
    assertSameBytes(body, message, 'plain message');
  });
});

for (const method of [undefined, 'PLAIN', 'LOGIN'] as const) {
  test(`smtplib: starttls() then ${method === undefined ? 'login() (picks PLAIN)' : `AUTH ${method}`}, traced as ESMTPSA`, async () => {
    const password = 'correct horse battery staple';
    const hash = await hashPassword(password, { ln: 10 });
    await withTestServer(
      async (s) => {
        const message = utf8('From: carol@example.com\r\nTo: dave@example.org\r\nSubject: over TLS\r\n\r\nAuthenticated.\r\n');
        const o = await runSmtplib(
          {
            port: s.port,
            mode: 'sendmail',
            from: 'carol@example.com',
            to: ['dave@example.org'],
            starttls: true,
            // A stalled handshake fails here rather than at the server's 30 s handshake deadline.
            timeout: 5,
            login: { user: 'carol', password, ...(method ? { method } : {}) },
          },
          message,
        );
        assert.equal(o.error, null);
        assert.match(o.tls ?? '', /^TLSv1\.[23]$/);
        assert.deepEqual(replyTo(o, 'STARTTLS'), { s: 220, text: '2.0.0 Ready to start TLS' });
        const ehlos = commands(o).filter((c) => c.startsWith('ehlo'));
        assert.equal(ehlos.length, 2, 'EHLO again after the handshake');
        const auth = commands(o).find((c) => c.startsWith('AUTH'));
        assert.ok(auth !== undefined, JSON.stringify(o.transcript));
        // login() prefers PLAIN among what the server offers (AUTH PLAIN LOGIN); both send an initial response.
        assert.match(auth, new RegExp(`^AUTH ${method ?? 'PLAIN'} [A-Za-z0-9+/=]+$`));
        const last = o.transcript.filter((e) => 's' in e && (e.s === 235 || e.s === 535 || e.s === 501)).at(-1);
        assert.deepEqual(last, { s: 235, text: '2.7.0 Authentication successful' });
        assert.equal(dataReply(o).s, 250);

        const [file] = await s.waitForMail('example.org', 'dave', 1);
        const { trace, body } = splitTrace(file!);
        assert.match(trace, new RegExp(`\\r\\n\\t\\(using ${o.tls!.replace('.', '\\.')} with cipher [A-Za-z0-9_-]+\\)\\r\\n\\twith ESMTPSA id `));
        assertSameBytes(body, message, 'authenticated message');
      },
      { smtp: { auth: { users: [{ name: 'carol', password: hash }] } } },
    );
  });
}

test('smtplib: twenty STARTTLS handshakes from another process in a row all complete', async () => {
  await withTestServer(async (s) => {
    // A client in another process answers the 220 at once, racing the server's switch to TLS:
    // the ClientHello must reach the TLS layer every time, whatever the timing.
    const o = await runSmtplib({ port: s.port, mode: 'handshakes', count: 20, timeout: 5 }, new Uint8Array(0));
    assert.deepEqual(o, { handshakes: 20, failure: null });
  });
});

test('smtplib: sendmail with mail_options SMTPUTF8 delivers a UTF-8 address, headers and body', async () => {
  await withTestServer(async (s) => {
    const message = utf8(
      'From: José Núñez <josé@example.com>\r\nTo: Zoë <zoë@example.org>\r\nSubject: Grüße — 日本語 🚀\r\n' +
        'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n' +
        'Ünïcödé: naïve café, Ελληνικά, русский, 中文 🎉\r\n.€ after a dot\r\n',
    );
    const o = await runSmtplib(
      { port: s.port, mode: 'sendmail', from: 'josé@example.com', to: ['zoë@example.org'], mail_options: ['SMTPUTF8', 'BODY=8BITMIME'] },
      message,
    );
    assert.equal(o.error, null);
    assert.deepEqual(o.refused, {});
    assert.match(commands(o).find((c) => c.startsWith('mail'))!, /^mail FROM:<josé@example\.com> size=\d+ SMTPUTF8 BODY=8BITMIME$/);
    assert.equal(replyTo(o, 'mail').s, 250);
    assert.deepEqual(replyTo(o, 'rcpt'), { s: 250, text: '2.1.5 Recipient OK' });
    assert.equal(dataReply(o).s, 250);

    const [file] = await s.waitForMail('example.org', 'zoë', 1);
    const { trace, body } = splitTrace(file!);
    assert.match(trace, /\r\n\twith UTF8SMTP id [0-9A-Za-z]+\r\n\tfor <zoë@example\.org>; /);
    assertSameBytes(body, message, 'SMTPUTF8 message');
  });
});

test('smtplib: send_message of an international EmailMessage declares SMTPUTF8 and arrives as flattened', async () => {
  await withTestServer(async (s) => {
    const text = 'Grüße aus Köln.\r\n.Ein Punkt am Zeilenanfang.\r\n';
    const o = await runSmtplib(
      { port: s.port, mode: 'send_message', from: 'josé@example.com', to: ['zoë@example.org', 'bob@example.com'], subject: 'Grüße 🚀' },
      utf8(text),
    );
    assert.equal(o.error, null);
    assert.deepEqual(o.refused, {});
    assert.match(commands(o).find((c) => c.startsWith('mail'))!, /^mail FROM:<josé@example\.com> size=\d+ SMTPUTF8 BODY=8BITMIME$/);
    assert.equal(dataReply(o).s, 250);
    const handed = Buffer.from(o.handed!, 'base64');
    const str = handed.toString('utf8');
    assert.ok(str.includes('\r\nSubject: Grüße 🚀\r\n') && str.includes('\r\n.Ein Punkt'), str);
    for (const [domain, local] of [
      ['example.org', 'zoë'],
      ['example.com', 'bob'],
    ] as const) {
      const [file] = await s.waitForMail(domain, local, 1);
      const { trace, body } = splitTrace(file!);
      assert.match(trace, /\r\n\twith UTF8SMTP id [0-9A-Za-z]+; /);
      assertSameBytes(body, handed, `${local}@${domain}`);
    }
  });
});

test('smtplib: one sendmail to five local recipients and one foreign gives five copies and one refusal', async () => {
  await withTestServer(async (s) => {
    const to = ['r1@example.com', 'r2@example.org', 'r3@example.com', 'r4@example.org', 'r5@example.com', 'stranger@elsewhere.test'];
    const message = utf8(`From: list@example.com\r\nTo: ${to.slice(0, 5).join(', ')}\r\nSubject: six\r\n\r\nOne body.\r\n`);
    const o = await runSmtplib({ port: s.port, mode: 'sendmail', from: 'list@example.com', to }, message);
    assert.equal(o.error, null);
    assert.deepEqual(o.refused, { 'stranger@elsewhere.test': [554, '5.7.1 Relay access denied'] });
    assert.equal(dataReply(o).s, 250);
    const rcpts = o.transcript.flatMap((e, i) => ('c' in e && e.c.startsWith('rcpt') ? [o.transcript[i + 1]] : []));
    assert.deepEqual(
      rcpts.map((r) => (r && 's' in r ? r.s : 0)),
      [250, 250, 250, 250, 250, 554],
    );
    for (const address of to.slice(0, 5)) {
      const [local, domain] = address.split('@') as [string, string];
      const files = await s.waitForMail(domain, local, 1);
      assert.equal(files.length, 1);
      const { trace, body } = splitTrace(files[0]!);
      assert.doesNotMatch(trace, /\bfor </, 'several recipients: none is named in the trace header');
      assertSameBytes(body, message, address);
    }
    assert.deepEqual(await s.mailbox('elsewhere.test', 'stranger'), []);
  });
});

test('smtplib: a 10 MB message with dot-led and 998-octet lines arrives intact', async () => {
  await withTestServer(async (s) => {
    const lines: string[] = ['From: big@example.com', 'To: bulk@example.com', 'Subject: ten megabytes', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', ''];
    const long = 'é'.repeat(100) + 'x'.repeat(798);
    assert.equal(Buffer.byteLength(long), 998);
    let size = Buffer.byteLength(lines.join('\r\n'));
    for (let i = 0; size < 10 * 1024 * 1024; i++) {
      const line = i % 97 === 0 ? `.${long.slice(1)}` : i % 89 === 0 ? '.' : long;
      lines.push(line);
      size += Buffer.byteLength(line) + 2;
    }
    const message = utf8(`${lines.join('\r\n')}\r\n`);
    const o = await runSmtplib({ port: s.port, mode: 'sendmail', from: 'big@example.com', to: ['bulk@example.com'] }, message);
    assert.equal(o.error, null);
    assert.match(commands(o).find((c) => c.startsWith('mail'))!, new RegExp(`size=${message.length}$`));
    assert.equal(dataReply(o).s, 250);
    const [file] = await s.waitForMail('example.com', 'bulk', 1, 20_000);
    assertSameBytes(splitTrace(file!).body, message, '10 MB message');
  });
});
