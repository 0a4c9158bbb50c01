/**
 * For end-to-end pipeline tests: send one message over SMTP, wait for a condition, and take a
 * delivery status notification apart: mailparser for the MIME structure, then the RFC 3464
 * delivery-status part field by field (mailparser folds that part into `text`, so it is read from
 * the part itself).
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { simpleParser, type ParsedMail } from 'mailparser';
import { RawSmtpClient } from '../testing/raw-smtp-client.ts';

/**
 * Sends one message (`body` without the final dot; lines starting with a dot are stuffed here)
 * and returns its queue id. A recipient may carry RCPT parameters after the address.
 */
export async function sendMail(port: number, from: string, rcpts: readonly string[], body: string): Promise<string> {
  const c = await RawSmtpClient.connect(port);
  try {
    assert.equal((await c.reply()).code, 220);
    assert.equal((await c.command('EHLO client.test')).code, 250);
    const mail = await c.command(`MAIL FROM:<${from}>`);
    assert.equal(mail.code, 250, mail.text);
    for (const r of rcpts) {
      const [address, ...params] = r.split(' ');
      const res = await c.command(`RCPT TO:<${address}>${params.length > 0 ? ` ${params.join(' ')}` : ''}`);
      assert.equal(res.code, 250, `RCPT ${r}: ${res.text}`);
    }
    assert.equal((await c.command('DATA')).code, 354);
    c.write(`${body.replace(/^\./gm, '..')}.\r\n`);
    const done = await c.reply();
    assert.equal(done.code, 250, done.text);
    const id = /queued as (\S+)/.exec(done.text)?.[1];
    assert.ok(id !== undefined, `a queue id in ${JSON.stringify(done.text)}`);
    await c.command('QUIT').catch(() => undefined);
    return id;
  } finally {
    c.close();
  }
}

export { until } from '../testing/until.ts';

/** One group of delivery-status fields, names lowercased, folded lines unfolded. */
export type StatusFields = Map<string, string>;

export interface ParsedReport {
  mail: ParsedMail;
  /** `report-type` of the multipart/report. */
  reportType: string;
  perMessage: StatusFields;
  recipients: StatusFields[];
  /** The content type of the third part (`text/rfc822-headers`, `message/rfc822`), '' when absent. */
  returnedType: string;
  /** That part's content. */
  returned: string;
}

interface MimePart {
  headers: Map<string, string>;
  body: string;
}

function splitParts(raw: string, boundary: string): MimePart[] {
  const delimiter = `\r\n--${boundary}`;
  const pieces = raw.split(delimiter);
  // pieces[0] is the preamble; the last starts with `--` (the close delimiter).
  return pieces.slice(1, -1).map((piece) => {
    const text = piece.replace(/^[ \t]*\r\n/, '');
    const end = text.indexOf('\r\n\r\n');
    const head = end < 0 ? text : text.slice(0, end);
    const headers = new Map<string, string>();
    for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    return { headers, body: end < 0 ? '' : text.slice(end + 4) };
  });
}

function statusGroups(body: string): StatusFields[] {
  return body
    .replace(/\r\n[ \t]+/g, ' ')
    .split(/\r\n\r\n/)
    .map((block) => block.trim())
    .filter((block) => block !== '')
    .map((block) => {
      const fields: StatusFields = new Map();
      for (const line of block.split('\r\n')) {
        const colon = line.indexOf(':');
        assert.ok(colon > 0, `a delivery-status field: ${JSON.stringify(line)}`);
        const name = line.slice(0, colon).toLowerCase();
        assert.ok(!fields.has(name), `field ${name} appears once per group`);
        fields.set(name, line.slice(colon + 1).trim());
      }
      return fields;
    });
}

/** Parses a DSN as mailparser sees it and its delivery-status part field by field; asserts its MIME shape. */
export async function parseReport(raw: Buffer): Promise<ParsedReport> {
  const mail = await simpleParser(raw);
  const contentType = mail.headers.get('content-type') as { value: string; params: Record<string, string> } | undefined;
  assert.equal(contentType?.value, 'multipart/report');
  const boundary = contentType.params.boundary;
  assert.ok(boundary !== undefined && boundary !== '', 'a boundary');
  const parts = splitParts(raw.toString('latin1'), boundary);
  assert.ok(parts.length === 2 || parts.length === 3, `two or three parts, got ${parts.length}`);
  const [human, status, returned] = parts;
  assert.match(human!.headers.get('content-type') ?? '', /^text\/plain\b/);
  assert.match(status!.headers.get('content-type') ?? '', /^message\/(global-)?delivery-status$/);
  const [perMessage, ...recipients] = statusGroups(status!.body);
  assert.ok(perMessage !== undefined && recipients.length > 0, 'per-message fields and at least one recipient group');
  return {
    mail,
    reportType: contentType.params['report-type'] ?? '',
    perMessage,
    recipients,
    returnedType: (returned?.headers.get('content-type') ?? '').toLowerCase(),
    returned: returned?.body ?? '',
  };
}
