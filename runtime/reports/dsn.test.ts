import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { simpleParser, type ParsedMail } from 'mailparser';
import { buildDsn, DEFAULT_MAX_RETURN_BYTES, DsnInputError, statusOf, wantsReport, type DsnInput, type DsnRecipient } from './dsn.ts';

// ---------------------------------------------------------------------------------------------
// A reader of our own, independent of the builder: MIME parts by boundary, and the field groups of a
// delivery-status body (RFC 3464 §2.1: RFC 822-style fields, groups separated by blank lines).

type Fields = [name: string, value: string][];

const unfold = (section: string): string => section.replace(/\r\n(?=[ \t])/g, '');

function fieldsOf(section: string): Fields {
  return unfold(section)
    .split('\r\n')
    .filter((l) => l !== '')
    .map((l) => {
      const colon = l.indexOf(':');
      assert.ok(colon > 0, `not a field: ${JSON.stringify(l)}`);
      return [l.slice(0, colon), l.slice(colon + 1).trim()];
    });
}

function get(fields: Fields, name: string): string | undefined {
  const found = fields.filter(([n]) => n.toLowerCase() === name.toLowerCase());
  assert.ok(found.length <= 1, `${name} appears ${found.length} times`);
  return found[0]?.[1];
}

interface Part {
  fields: Fields;
  body: Buffer;
}

function split(raw: Buffer): { head: Fields; parts: Part[] } {
  const end = raw.indexOf('\r\n\r\n');
  const head = fieldsOf(raw.subarray(0, end + 2).toString('utf8'));
  const boundary = /boundary="([^"]+)"/.exec(get(head, 'Content-Type') ?? '')?.[1];
  assert.ok(boundary !== undefined, 'the report has a boundary');
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const parts: Part[] = [];
  let at = raw.indexOf(delimiter, end);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (raw.subarray(start, start + 2).toString() === '--') break;
    const next = raw.indexOf(delimiter, start);
    assert.ok(next !== -1, 'every part is closed by a delimiter');
    const part = raw.subarray(start + 2, next); // past the CRLF that ends the delimiter line
    const blank = part.indexOf('\r\n\r\n');
    parts.push({ fields: fieldsOf(part.subarray(0, blank + 2).toString('utf8')), body: part.subarray(blank + 4) });
    at = next;
  }
  assert.equal(raw.subarray(at).toString(), `\r\n--${boundary}--\r\n`, 'the report ends with the close delimiter');
  return { head, parts };
}

/** The per-message group and one group per recipient. */
function statusGroups(body: Buffer): { message: Fields; recipients: Fields[] } {
  const text = body.toString('utf8');
  assert.ok(text.endsWith('\r\n'), 'the last group ends with CRLF');
  const [message, ...recipients] = text.slice(0, -2).split('\r\n\r\n').map(fieldsOf);
  return { message: message as Fields, recipients };
}

function assertWireSafe(raw: Buffer): void {
  let lineStart = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x0d) {
      assert.equal(raw[i + 1], 0x0a, `bare CR at ${i}`);
      assert.ok(i - lineStart <= 998, `line at ${lineStart} is ${i - lineStart} octets`);
      lineStart = i + 2;
      i++;
    } else {
      assert.notEqual(raw[i], 0x0a, `bare LF at ${i}`);
    }
  }
  assert.equal(lineStart, raw.length, 'the message ends with CRLF');
}

// ---------------------------------------------------------------------------------------------

const RECEIVED = Date.UTC(2026, 2, 2, 8, 0, 0);
const NOW = Date.UTC(2026, 2, 4, 8, 0, 0);
const ORIGINAL = Buffer.from(
  'Received: from client.example ([192.0.2.7])\r\n\tby mx.example.org (Sluice) with ESMTP id Q1; Mon, 2 Mar 2026 08:00:00 +0000\r\n' +
    'Message-ID: <orig.1@client.example>\r\nFrom: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: lunch\r\n\r\n' +
    'See you at noon.\r\n.leading dot stays as stored\r\n',
);
const HEADER_SECTION = ORIGINAL.subarray(0, ORIGINAL.indexOf('\r\n\r\n') + 2);

const failed: DsnRecipient = {
  address: 'bob@example.net',
  action: 'failed',
  status: '5.1.1',
  diagnostic: '550 5.1.1 <bob@example.net>: no such user',
  remoteMta: 'mx.example.net',
  lastAttemptAt: NOW - 60_000,
};

function input(over: Partial<DsnInput> = {}, envelope: Partial<DsnInput['envelope']> = {}): DsnInput {
  return {
    reportingMta: 'mx.example.org',
    envelope: { id: 'Q1', sender: 'alice@example.org', receivedAt: RECEIVED, client: { address: '::ffff:192.0.2.7', helo: 'client.example' }, ...envelope },
    recipients: [failed],
    original: ORIGINAL,
    now: NOW,
    messageId: 'dsn.Q1.1@mx.example.org',
    ...over,
  };
}

async function build(i: DsnInput): Promise<{ raw: Buffer; mail: ParsedMail; head: Fields; parts: Part[] }> {
  const built = buildDsn(i);
  assert.ok(built !== null);
  assert.equal(built.sender, '');
  assert.equal(built.recipient, i.envelope.sender);
  const raw = Buffer.from(built.message);
  assertWireSafe(raw);
  const mail = await simpleParser(raw, { keepDeliveryStatus: true });
  return { raw, mail, ...split(raw) };
}

const contentType = (p: Part): string => get(p.fields, 'Content-Type') ?? '';
/** The notification's prose with its line wrapping undone. */
const prose = (mail: ParsedMail): string => (mail.text ?? '').replace(/\s+/g, ' ');

// ---------------------------------------------------------------------------------------------

test('a failure report is a multipart/report with notification, delivery status and the returned message', async () => {
  const { mail, head, parts } = await build(input({}, { ret: 'FULL' }));
  assert.equal(mail.from?.value[0]?.address, 'MAILER-DAEMON@mx.example.org');
  assert.ok((mail.from?.value[0]?.name ?? '') !== '', 'From has a display name');
  assert.deepEqual(mail.to && !Array.isArray(mail.to) ? mail.to.value.map((a) => a.address) : null, ['alice@example.org']);
  assert.equal(mail.subject, 'Undelivered Mail Returned to Sender');
  assert.equal(mail.date?.getTime(), NOW);
  assert.equal(mail.messageId, '<dsn.Q1.1@mx.example.org>');
  assert.equal(mail.inReplyTo, '<orig.1@client.example>');
  assert.equal(mail.references, '<orig.1@client.example>');
  assert.equal(mail.headers.get('auto-submitted'), 'auto-replied');
  assert.equal(get(head, 'MIME-Version'), '1.0');
  const type = mail.headers.get('content-type') as { value: string; params: Record<string, string> };
  assert.equal(type.value, 'multipart/report');
  assert.equal(type.params['report-type'], 'delivery-status');

  assert.deepEqual(parts.map(contentType), ['text/plain; charset=us-ascii', 'message/delivery-status', 'message/rfc822']);
  assert.match(prose(mail), /<bob@example\.net>: host mx\.example\.net said: 550 5\.1\.1 <bob@example\.net>: no such user/);
  assert.match(prose(mail), /permanent error/);
  assert.deepEqual(mail.attachments.map((a) => a.contentType), ['message/delivery-status', 'message/rfc822']);
  assert.deepEqual(mail.attachments[1]?.content, ORIGINAL);
});

test('the delivery-status part carries the per-message and per-recipient fields of RFC 3464', async () => {
  const { parts, mail } = await build(input({}, { envid: 'QQ314159' }));
  const { message, recipients } = statusGroups((parts[1] as Part).body);
  assert.deepEqual(statusGroups(mail.attachments[0]?.content as Buffer), { message, recipients }, 'mailparser sees the same bytes');
  assert.equal(get(message, 'Reporting-MTA'), 'dns; mx.example.org');
  assert.equal(get(message, 'Original-Envelope-Id'), 'QQ314159');
  assert.equal(get(message, 'Received-From-MTA'), 'dns; client.example ([192.0.2.7])');
  assert.equal(get(message, 'Arrival-Date'), 'Mon, 2 Mar 2026 08:00:00 +0000');
  assert.equal(recipients.length, 1);
  const r = recipients[0] as Fields;
  assert.deepEqual(
    r.map(([n]) => n),
    ['Final-Recipient', 'Action', 'Status', 'Remote-MTA', 'Diagnostic-Code', 'Last-Attempt-Date'],
  );
  assert.equal(get(r, 'Final-Recipient'), 'rfc822; bob@example.net');
  assert.equal(get(r, 'Action'), 'failed');
  assert.equal(get(r, 'Status'), '5.1.1');
  assert.equal(get(r, 'Remote-MTA'), 'dns; mx.example.net');
  assert.equal(get(r, 'Diagnostic-Code'), 'smtp; 550 5.1.1 <bob@example.net>: no such user');
  assert.equal(get(r, 'Last-Attempt-Date'), 'Wed, 4 Mar 2026 07:59:00 +0000');
  assert.equal(get(r, 'Original-Recipient'), undefined, 'no ORCPT, no Original-Recipient (RFC 3464 §2.3.1)');
});

test('ORCPT becomes Original-Recipient; a utf-8 ORCPT in a 7-bit report is utf-8-addr-xtext', async () => {
  const { parts, mail } = await build(
    input({
      recipients: [
        { ...failed, orcpt: { type: 'rfc822', address: 'Bob.Alias@example.net' } },
        { ...failed, address: 'carol@example.net', orcpt: { type: 'utf-8', address: 'josé+x@example.net' } },
      ],
    }),
  );
  const { recipients } = statusGroups((parts[1] as Part).body);
  assert.equal(get(recipients[0] as Fields, 'Original-Recipient'), 'rfc822; Bob.Alias@example.net');
  assert.equal(get(recipients[1] as Fields, 'Original-Recipient'), 'utf-8; jos\\x{E9}\\x{2B}x@example.net');
  assert.equal(contentType(parts[1] as Part), 'message/delivery-status');
  assert.ok(!(parts[1] as Part).body.some((b) => b > 0x7f), 'the delivery-status part stays 7-bit');
  assert.match(prose(mail), /<bob@example\.net> \(originally <Bob\.Alias@example\.net>\)/);
});

test('a delay report says until when delivery is retried and returns headers only, even with RET=FULL', async () => {
  const until = RECEIVED + 5 * 24 * 3600_000;
  const delayed: DsnRecipient = { address: 'bob@example.net', action: 'delayed', status: '4.4.1', diagnostic: '451 4.4.1 connection timed out', willRetryUntil: until };
  const { mail, parts } = await build(input({ recipients: [delayed] }, { ret: 'FULL' }));
  assert.equal(mail.subject, 'Delayed Mail (still being retried)');
  const r = statusGroups((parts[1] as Part).body).recipients[0] as Fields;
  assert.equal(get(r, 'Action'), 'delayed');
  assert.equal(get(r, 'Status'), '4.4.1');
  assert.equal(get(r, 'Will-Retry-Until'), 'Sat, 7 Mar 2026 08:00:00 +0000');
  assert.match(prose(mail), /retried until Sat, 7 Mar 2026 08:00:00 \+0000/);
  assert.match(prose(mail), /only a warning/);
  assert.equal(contentType(parts[2] as Part), 'text/rfc822-headers');
  assert.deepEqual((parts[2] as Part).body, HEADER_SECTION);
});

test('success reports (delivered, relayed, expanded) have their own subject and no retry date', async () => {
  for (const action of ['delivered', 'relayed', 'expanded'] as const) {
    const ok: DsnRecipient = { address: 'bob@example.net', action, status: '2.0.0', diagnostic: '250 2.0.0 Ok: queued as 4XYZ', remoteMta: 'mx.example.net' };
    const { mail, parts } = await build(input({ recipients: [ok] }, { ret: 'FULL' }));
    assert.equal(mail.subject, 'Successful Mail Delivery Report', action);
    const r = statusGroups((parts[1] as Part).body).recipients[0] as Fields;
    assert.equal(get(r, 'Action'), action);
    assert.equal(get(r, 'Status'), '2.0.0');
    assert.equal(get(r, 'Will-Retry-Until'), undefined);
    assert.equal(contentType(parts[2] as Part), 'text/rfc822-headers', `${action}: only failures return the whole message`);
    assert.doesNotMatch(prose(mail), /could not be delivered|not yet been delivered/);
  }
});

test('RET=HDRS and RET absent return the header section as text/rfc822-headers', async () => {
  for (const ret of ['HDRS', undefined] as const) {
    const { parts, mail } = await build(input({}, ret === undefined ? {} : { ret }));
    assert.equal(parts.length, 3);
    assert.equal(contentType(parts[2] as Part), 'text/rfc822-headers', String(ret));
    assert.deepEqual((parts[2] as Part).body, HEADER_SECTION);
    assert.match(prose(mail), /headers of the message are attached/);
  }
});

test('RET=FULL returns the original bytes exactly as message/rfc822', async () => {
  const { parts, mail } = await build(input({}, { ret: 'FULL' }));
  const returned = parts[2] as Part;
  assert.equal(contentType(returned), 'message/rfc822');
  assert.equal(get(returned.fields, 'Content-Transfer-Encoding'), '7bit');
  assert.deepEqual(returned.body, ORIGINAL);
  assert.match(prose(mail), /undelivered message is attached/);
});

test('an original over maxReturnBytes falls back to its headers, and the notification says so', async () => {
  const { parts, mail } = await build(input({ maxReturnBytes: ORIGINAL.length - 1 }, { ret: 'FULL' }));
  assert.equal(contentType(parts[2] as Part), 'text/rfc822-headers');
  assert.deepEqual((parts[2] as Part).body, HEADER_SECTION);
  assert.match(prose(mail), new RegExp(`larger than the ${ORIGINAL.length - 1} bytes that are returned in full, so only its headers`));

  const exact = await build(input({ maxReturnBytes: ORIGINAL.length }, { ret: 'FULL' }));
  assert.equal(contentType(exact.parts[2] as Part), 'message/rfc822', 'a message exactly at the limit is returned');
});

test('the default return limit is 1 MiB', async () => {
  assert.equal(DEFAULT_MAX_RETURN_BYTES, 1024 * 1024);
  const line = `${'x'.repeat(98)}\r\n`;
  const big = Buffer.concat([HEADER_SECTION, Buffer.from('\r\n'), Buffer.from(line.repeat(Math.ceil(DEFAULT_MAX_RETURN_BYTES / line.length)))]);
  const { parts } = await build(input({ original: big }, { ret: 'FULL' }));
  assert.equal(contentType(parts[2] as Part), 'text/rfc822-headers');
});

test('a header section alone over the limit is not returned at all', async () => {
  const { parts, mail } = await build(input({ maxReturnBytes: 64 }, { ret: 'FULL' }));
  assert.equal(parts.length, 2);
  assert.deepEqual(parts.map(contentType), ['text/plain; charset=us-ascii', 'message/delivery-status']);
  assert.match(prose(mail), /header section of the message alone is larger than 64 bytes/);
});

test('an 8-bit body is returned untouched and labelled 8bit, in the part and the whole report', async () => {
  const original = Buffer.concat([HEADER_SECTION, Buffer.from('\r\nGrüße aus Köln\r\n', 'utf8')]);
  const { parts, head, mail } = await build(input({ original }, { ret: 'FULL' }));
  assert.equal(contentType(parts[2] as Part), 'message/rfc822', 'ASCII headers: still message/rfc822');
  assert.equal(get((parts[2] as Part).fields, 'Content-Transfer-Encoding'), '8bit');
  assert.equal(get(head, 'Content-Transfer-Encoding'), '8bit');
  assert.deepEqual((parts[2] as Part).body, original);
  assert.deepEqual(mail.attachments[1]?.content, original);
});

test('a body with an over-long line cannot be returned as is: headers only, and the notification says why', async () => {
  const original = Buffer.concat([HEADER_SECTION, Buffer.from(`\r\n${'y'.repeat(1500)}\r\n`)]);
  const { parts, mail } = await build(input({ original }, { ret: 'FULL' }));
  assert.equal(contentType(parts[2] as Part), 'text/rfc822-headers');
  assert.match(prose(mail), /not a well-formed Internet message/);
});

test('a report lists only the recipients it is given', async () => {
  const { parts, mail, raw } = await build(input({ recipients: [{ ...failed, address: 'dave@example.net' }] }));
  const { recipients } = statusGroups((parts[1] as Part).body);
  assert.deepEqual(recipients.map((r) => get(r, 'Final-Recipient')), ['rfc822; dave@example.net']);
  assert.match(prose(mail), /<dave@example\.net>/);
  // bob@example.net is in the returned message's To: but in no report field.
  assert.equal(raw.subarray(0, raw.indexOf('Content-Type: text/rfc822-headers')).includes('rfc822; bob@'), false);
});

test('a mixed report groups recipients by what happened and is subject to the worst outcome', async () => {
  const recipients: DsnRecipient[] = [
    { address: 'ok@example.net', action: 'delivered', status: '2.0.0' },
    { address: 'later@example.net', action: 'delayed', status: '4.2.2', diagnostic: '452 4.2.2 mailbox full', willRetryUntil: NOW + 3600_000 },
    failed,
  ];
  const { mail, parts } = await build(input({ recipients }));
  assert.equal(mail.subject, 'Undelivered Mail Returned to Sender');
  const text = mail.text ?? '';
  assert.ok(text.indexOf('<bob@') < text.indexOf('<later@') && text.indexOf('<later@') < text.indexOf('<ok@'), 'failed, then delayed, then delivered');
  const groups = statusGroups((parts[1] as Part).body).recipients;
  assert.deepEqual(groups.map((g) => get(g, 'Action')), ['delivered', 'delayed', 'failed'], 'machine-readable groups keep the given order');
});

test('the null sender gets no report', () => {
  assert.equal(buildDsn(input({}, { sender: '' })), null);
  assert.equal(buildDsn(input({}, { sender: '<>' })), null);
});

test('CR and LF in a diagnostic cannot add a field or a recipient group', async () => {
  const evil = '550 5.7.1 rejected\r\nX-Injected: yes\r\n\r\nFinal-Recipient: rfc822; evil@example.com\nAction: delivered\rStatus: 2.0.0';
  const { parts, head, mail, raw } = await build(input({ recipients: [{ ...failed, diagnostic: evil, remoteMta: 'mx\r\nX-Host: 1' }] }, { envid: 'E\r\nX-Envid: 1', client: { address: '192.0.2.7', helo: 'h\r\nX-Helo: 1' } }));
  const { message, recipients } = statusGroups((parts[1] as Part).body);
  assert.equal(recipients.length, 1);
  const r = recipients[0] as Fields;
  assert.deepEqual(r.map(([n]) => n), ['Final-Recipient', 'Action', 'Status', 'Remote-MTA', 'Diagnostic-Code', 'Last-Attempt-Date']);
  assert.equal(get(r, 'Diagnostic-Code'), 'smtp; 550 5.7.1 rejected X-Injected: yes Final-Recipient: rfc822; evil@example.com Action: delivered Status: 2.0.0');
  assert.equal(get(r, 'Remote-MTA'), 'dns; mx X-Host: 1');
  assert.deepEqual(message.map(([n]) => n), ['Reporting-MTA', 'Original-Envelope-Id', 'Received-From-MTA', 'Arrival-Date', 'X-Sluice-Queue-ID']);
  assert.equal(get(head, 'X-Injected'), undefined);
  assert.equal(mail.headers.has('x-injected'), false);
  assert.equal(/\r\nX-(Injected|Host|Envid|Helo):/i.test(raw.toString('utf8')), false, 'no line starts with an injected field');
});

test('long values are folded: every line stays within 998 octets and unfolds to the value', async () => {
  const words = Array.from({ length: 100 }, (_, i) => `word${i}`).join(' ');
  const token = 'z'.repeat(1200);
  const diagnostic = `550 5.0.0 ${words} ${token} end`;
  const { raw, parts, mail } = await build(input({ recipients: [{ ...failed, diagnostic }] }));
  const lines = raw.toString('utf8').split('\r\n');
  assert.ok(lines.every((l) => Buffer.byteLength(l) <= 998));
  const r = statusGroups((parts[1] as Part).body).recipients[0] as Fields;
  const value = get(r, 'Diagnostic-Code') as string;
  assert.ok(value.startsWith(`smtp; 550 5.0.0 ${words} `), 'folding at spaces loses nothing');
  assert.equal(value.replace(/ /g, '').endsWith(`${token}end`), true, 'a run without spaces is cut, not dropped');
  assert.ok(lines.filter((l) => l.startsWith(' word')).length > 5, 'folded near 78 columns where spaces allow');
  assert.match(prose(mail), /word99/);
});

test('a diagnostic is cut at 2000 characters', async () => {
  const { parts } = await build(input({ recipients: [{ ...failed, diagnostic: `550 5.0.0 ${'blah '.repeat(5000)}` }] }));
  const value = get(statusGroups((parts[1] as Part).body).recipients[0] as Fields, 'Diagnostic-Code') as string;
  assert.ok(value.length <= 'smtp; '.length + 2000 + ' [...]'.length, `${value.length} characters`);
  assert.ok(value.endsWith(' blah [...]'));
});

test('an SMTPUTF8 report uses the RFC 6533 global types, utf-8 addresses and the 8bit encoding', async () => {
  const original = Buffer.from('Message-ID: <u@example.org>\r\nFrom: José <josé@example.org>\r\nSubject: Grüße\r\n\r\nHallo\r\n', 'utf8');
  const recipient: DsnRecipient = { ...failed, address: 'dörte@bücher.example', orcpt: { type: 'utf-8', address: 'd\\x{F6}rte@b\\x{FC}cher.example' }, diagnostic: '550 5.1.1 unbekannt: dörte' };
  const { parts, head, mail, raw } = await build(input({ original, recipients: [recipient] }, { sender: 'josé@example.org', ret: 'FULL' }));
  assert.match(get(head, 'Content-Type') ?? '', /^multipart\/report; report-type=global-delivery-status; boundary=/);
  assert.equal(get(head, 'Content-Transfer-Encoding'), '8bit');
  assert.equal(get(head, 'To'), '<josé@example.org>');
  assert.deepEqual(parts.map(contentType), ['text/plain; charset=utf-8', 'message/global-delivery-status', 'message/global']);
  assert.deepEqual(parts.map((p) => get(p.fields, 'Content-Transfer-Encoding')), ['8bit', '8bit', '8bit']);
  const r = statusGroups((parts[1] as Part).body).recipients[0] as Fields;
  assert.equal(get(r, 'Final-Recipient'), 'utf-8; dörte@bücher.example');
  assert.equal(get(r, 'Original-Recipient'), 'utf-8; dörte@bücher.example');
  assert.equal(get(r, 'Diagnostic-Code'), 'smtp; 550 5.1.1 unbekannt: dörte');
  assert.deepEqual((parts[2] as Part).body, original);
  assert.match(prose(mail), /<dörte@bücher\.example>: host mx\.example\.net said: 550 5\.1\.1 unbekannt: dörte/);
  assert.ok(raw.includes(Buffer.from('Final-Recipient: utf-8; dörte@bücher.example\r\n', 'utf8')));
});

test('UTF-8 headers returned without the body are message/global-headers', async () => {
  const original = Buffer.from('Subject: Grüße\r\n\r\nHallo\r\n', 'utf8');
  const { parts } = await build(input({ original }));
  assert.equal(contentType(parts[2] as Part), 'message/global-headers');
  assert.deepEqual((parts[2] as Part).body, Buffer.from('Subject: Grüße\r\n', 'utf8'));
});

test('the boundary never occurs in the content, even when the original contains the first choice', async () => {
  const first = split(Buffer.from((buildDsn(input({}, { ret: 'FULL' })) as { message: Uint8Array }).message));
  const boundary = /boundary="([^"]+)"/.exec(get(first.head, 'Content-Type') ?? '')?.[1] as string;
  const original = Buffer.concat([HEADER_SECTION, Buffer.from(`\r\n--${boundary}\r\nContent-Type: text/plain\r\n\r\nfake part\r\n--${boundary}--\r\n`)]);
  const { head, parts } = await build(input({ original }, { ret: 'FULL' }));
  assert.notEqual(/boundary="([^"]+)"/.exec(get(head, 'Content-Type') ?? '')?.[1], boundary);
  assert.equal(parts.length, 3);
  assert.deepEqual((parts[2] as Part).body, original);
});

test('input that breaks the contract is refused with an error naming the field', () => {
  const cases: [Partial<DsnInput>, Partial<DsnInput['envelope']>, string][] = [
    [{ recipients: [] }, {}, 'recipients'],
    [{ recipients: [{ ...failed, status: '550' }] }, {}, 'recipients[0].status'],
    [{ recipients: [failed, { ...failed, action: 'bounced' as never }] }, {}, 'recipients[1].action'],
    [{ recipients: [{ ...failed, address: 'a\r\nb@example.net' }] }, {}, 'recipients[0].address'],
    [{ recipients: [{ ...failed, willRetryUntil: NOW }] }, {}, 'recipients[0].willRetryUntil'],
    [{ recipients: [{ ...failed, orcpt: { type: 'rfc 822', address: 'x@y' } }] }, {}, 'recipients[0].orcpt.type'],
    [{ messageId: '<dsn.1@mx.example.org>' }, {}, 'messageId'],
    [{ reportingMta: 'mx example.org' }, {}, 'reportingMta'],
    [{ now: Number.NaN }, {}, 'now'],
    [{ maxReturnBytes: -1 }, {}, 'maxReturnBytes'],
    [{ original: 'text' as never }, {}, 'original'],
    [{}, { ret: 'ALL' as never }, 'envelope.ret'],
    [{}, { sender: 'a\u0000@example.org' }, 'envelope.sender'],
    [{}, { id: 'has space' }, 'envelope.id'],
  ];
  for (const [over, envelope, field] of cases) {
    assert.throws(
      () => buildDsn(input(over, envelope)),
      (err: unknown) => err instanceof DsnInputError && err.field === field && err.message.startsWith(`${field}: `) && err.code === 'DSN_INPUT_INVALID',
      field,
    );
  }
});

test('wantsReport follows NOTIFY (RFC 3461 §4.1); absent NOTIFY means failures and delays', () => {
  const actions = ['failed', 'delayed', 'delivered', 'relayed', 'expanded'] as const;
  const table: [Parameters<typeof wantsReport>[0], boolean[]][] = [
    [undefined, [true, true, false, false, false]],
    ['NEVER', [false, false, false, false, false]],
    [['SUCCESS'], [false, false, true, true, true]],
    [['FAILURE'], [true, false, false, false, false]],
    [['DELAY'], [false, true, false, false, false]],
    [['FAILURE', 'DELAY'], [true, true, false, false, false]],
    [['SUCCESS', 'FAILURE', 'DELAY'], [true, true, true, true, true]],
    [[], [false, false, false, false, false]],
  ];
  for (const [notify, expected] of table) {
    assert.deepEqual(actions.map((a) => wantsReport(notify, a)), expected, JSON.stringify(notify));
  }
});

test('statusOf takes the enhanced code of a reply, or derives one from its class', () => {
  assert.equal(statusOf('451 4.4.1 connection timed out'), '4.4.1');
  assert.equal(statusOf('550 5.1.1 <x@example.net>: no such user'), '5.1.1');
  assert.equal(statusOf('250 2.0.0 Ok: queued'), '2.0.0');
  assert.equal(statusOf('550-5.7.1 first line\r\n550 5.7.1 second line'), '5.7.1');
  assert.equal(statusOf('552 5.3.4'), '5.3.4');
  assert.equal(statusOf('550 5.010.002 padded'), '5.10.2');
  assert.equal(statusOf('550 no such user'), '5.0.0');
  assert.equal(statusOf('421 Service not available'), '4.0.0');
  assert.equal(statusOf('554'), '5.0.0');
  assert.equal(statusOf('550 2.1.5 class contradicts the reply'), '5.0.0');
  assert.equal(statusOf('550 5.1.1234 too many digits'), '5.0.0');
  assert.equal(statusOf('550 5.1.1.1 not a code'), '5.0.0');
  for (const bad of ['', 'connection refused', '55 short', '354 go ahead', '5500 long']) {
    assert.throws(() => statusOf(bad), (err: unknown) => err instanceof DsnInputError && err.field === 'reply', bad);
  }
});
