// The categorizer end to end: a real server, real SMTP, recipient tables, routing agents in the real sandbox host, DSNs parsed back, tracking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { RawSmtpClient } from '../testing/raw-smtp-client.ts';
import { installEnabled, trustedVendor, type TestAgent } from '../testing/agent-kit.ts';
import type { ConfigInput } from '../config/schema.ts';
import type { TrackingEntry } from '../tracking/index.ts';
import { until } from '../testing/until.ts';

async function withServer(fn: (s: TestServer) => Promise<void>, config: ConfigInput = {}): Promise<void> {
  const server = await startTestServer(config);
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

/** Sends one message; returns its queue id. `rcpts` may carry RCPT parameters after the address. */
async function send(s: TestServer, from: string, rcpts: string[], body = 'Subject: hello\r\nMessage-ID: <m1@client.test>\r\n\r\nbody\r\n'): Promise<string> {
  const c = await RawSmtpClient.connect(s.port);
  try {
    await c.reply();
    await c.command('EHLO client.test');
    assert.equal((await c.command(`MAIL FROM:<${from}>`)).code, 250);
    for (const r of rcpts) {
      const [addr, ...params] = r.split(' ');
      const res = await c.command(`RCPT TO:<${addr}>${params.length ? ` ${params.join(' ')}` : ''}`);
      assert.equal(res.code, 250, res.text);
    }
    assert.equal((await c.command('DATA')).code, 354);
    c.write(`${body}.\r\n`);
    const done = await c.reply();
    assert.equal(done.code, 250, done.text);
    return /queued as (\S+)/.exec(done.text)![1]!;
  } finally {
    c.close();
  }
}


async function tracked(s: TestServer, queueId: string, event: TrackingEntry['event']): Promise<TrackingEntry[]> {
  return until(`${event} for ${queueId}`, async () => {
    const found = (await s.tracking.search({ queueId })).filter((e) => e.event === event);
    return found.length > 0 ? found : undefined;
  });
}

/** The delivery-status part's field groups: [per-message, ...per-recipient]. */
function statusGroups(text: string): Map<string, string>[] {
  return text
    .trim()
    .split(/\r?\n\r?\n/)
    .map((block) => new Map(block.split(/\r?\n/).map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()])));
}

async function parseReport(raw: Buffer): Promise<{ subject: string; groups: Map<string, string>[]; returned: string }> {
  const mail = await simpleParser(raw);
  const parts = raw.toString('utf8');
  const ds = /Content-Type: message\/(?:global-)?delivery-status[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n([\s\S]*?)\r\n--/i.exec(parts);
  assert.ok(ds, 'a delivery-status part');
  const returned = /Content-Type: (text\/rfc822-headers|message\/rfc822)/i.exec(parts)?.[1] ?? '';
  return { subject: mail.subject ?? '', groups: statusGroups(ds[1]!), returned };
}

const RECIPIENTS = {
  mailboxes: ['alice@example.com', 'bob@example.com', 'carol@example.com', 'dave@example.com', 'sender@example.org'],
  aliases: { 'info@example.com': ['carol@example.com'] },
  groups: { 'team@example.com': ['alice@example.com', 'bob@example.com', 'info@example.com', 'team@example.com'] },
};

test('aliases and distribution groups expand (a group containing itself included); each mailbox gets one copy; tracking records the expansion', async () => {
  await withServer(
    async (s) => {
      const id = await send(s, 'sender@example.org', ['team@example.com', 'bob@example.com']);
      for (const who of ['alice', 'bob', 'carol']) assert.equal((await s.waitForMail('example.com', who, 1)).length, 1);
      await until('the spool to drain', () => (s.spool.stats().messages === 0 ? true : undefined));
      assert.equal((await s.mailbox('example.com', 'bob')).length, 1, 'bob is in the group and addressed directly: one copy');
      assert.deepEqual(await s.mailbox('example.com', 'info'), [], 'an alias is not a mailbox');
      const [expand] = await tracked(s, id, 'EXPAND');
      assert.deepEqual(expand!.recipients, ['alice@example.com', 'bob@example.com', 'carol@example.com']);
      assert.equal(expand!.messageId, 'm1@client.test');
      const delivered = await tracked(s, id, 'DELIVER');
      assert.deepEqual(delivered.flatMap((e) => e.recipients ?? []).sort(), ['alice@example.com', 'bob@example.com', 'carol@example.com']);
      assert.equal(delivered[0]!.nextHop, 'maildir:example.com');
      assert.equal((await tracked(s, id, 'RECEIVE'))[0]!.sender, 'sender@example.org');
    },
    { recipients: RECIPIENTS },
  );
});

test('an unknown local recipient is bounced with an RFC 3464 failure report to the sender, field by field; NOTIFY=NEVER and the null sender get none', async () => {
  await withServer(
    async (s) => {
      const id = await send(s, 'sender@example.org', ['nobody@example.com ORCPT=rfc822;orig@example.com', 'alice@example.com'], 'Subject: hello\r\nMessage-ID: <m2@client.test>\r\n\r\nbody\r\n');
      await s.waitForMail('example.com', 'alice', 1);
      const [report] = await s.waitForMail('example.org', 'sender', 1);
      const parsed = await parseReport(report!);
      assert.match(parsed.subject, /Undelivered/i);
      const [perMessage, rcpt, extra] = parsed.groups;
      assert.equal(perMessage!.get('reporting-mta'), 'dns; mx.test');
      assert.equal(extra, undefined, 'only the failed recipient is reported');
      assert.equal(rcpt!.get('final-recipient'), 'rfc822; nobody@example.com');
      assert.equal(rcpt!.get('original-recipient'), 'rfc822; orig@example.com');
      assert.equal(rcpt!.get('action'), 'failed');
      assert.equal(rcpt!.get('status'), '5.1.1');
      assert.match(rcpt!.get('diagnostic-code') ?? '', /^smtp; 550 5\.1\.1 /);
      assert.equal(parsed.returned.toLowerCase(), 'text/rfc822-headers', 'RET absent: headers only');
      const [dsn] = await tracked(s, id, 'DSN');
      assert.deepEqual(dsn!.recipients, ['nobody@example.com']);
      const reportHeader = report!.toString('latin1');
      assert.match(reportHeader, /^Return-Path: <>\r\n/m);

      const never = await send(s, 'sender@example.org', ['nobody@example.com NOTIFY=NEVER']);
      const nullSender = await send(s, '', ['nobody@example.com']);
      for (const q of [never, nullSender]) assert.match((await tracked(s, q, 'FAIL'))[0]!.reply ?? '', /^550 5\.1\.1/);
      await until('the spool to drain', () => (s.spool.stats().messages === 0 ? true : undefined));
      assert.equal((await s.mailbox('example.org', 'sender')).length, 1, 'no report for NOTIFY=NEVER nor for the null sender');
    },
    { recipients: RECIPIENTS },
  );
});

const ROUTER: TestAgent = {
  name: 'acme/router',
  budgets: { onSubmittedMessage: 500, onResolvedMessage: 500, onRoutedMessage: 500, onCategorizedMessage: 500 },
  manifest: { kind: 'routing' },
  handlers: `
    onSubmittedMessage(e) {
      const subject = (e.message.headers.find((h) => h.name.toLowerCase() === 'subject') || {}).value || '';
      if (subject === 'delete me') return { verdict: 'delete', reason: 'policy: deleted' };
      if (subject === 'quarantine me') return { verdict: 'quarantine', reason: 'looks bad' };
      if (subject === 'defer me' && !globalThis.deferred) { globalThis.deferred = true; return { verdict: 'defer', delayMs: 1000, reason: 'scanner busy' }; }
      if (subject === 'copy') return { verdict: 'continue', recipients: [{ op: 'add', address: 'dave@example.com' }] };
      if (subject === 'rewrite') return { verdict: 'continue', recipients: [{ op: 'rewrite', address: 'alice@example.com', to: 'info@example.com' }] };
    },
    onResolvedMessage(e) {
      const subject = (e.message.headers.find((h) => h.name.toLowerCase() === 'subject') || {}).value || '';
      if (subject === 'reroute') return { verdict: 'continue', recipients: [{ op: 'override', address: 'alice@example.com', route: 'nowhere.invalid:2' }, { op: 'remove', address: 'bob@example.com' }] };
    },
    onRoutedMessage(e) {
      const subject = (e.message.headers.find((h) => h.name.toLowerCase() === 'subject') || {}).value || '';
      if (subject === 'replace body') return { verdict: 'continue', headers: [{ op: 'set', name: 'Subject', value: 'replaced' }], body: 'VGhpcyBtZXNzYWdlIHdhcyByZXBsYWNlZCBieSBwb2xpY3kuClNlY29uZCBsaW5lLgo=' /* base64 of two lines ending in bare LF */ };
      return { verdict: 'continue', headers: [{ op: 'add', name: 'X-Routed', value: e.message.recipients.map((r) => r.address + '=' + r.nextHop).join(' ') }, { op: 'remove', name: 'Received' }] };
    },
    onCategorizedMessage() {}
  `,
};

test('routing agents: header edits reach the mailbox (trace fields protected), an added recipient is resolved and delivered, delete and quarantine are tracked', async () => {
  await withServer(
    async (s) => {
      const key = await trustedVendor(s.trust, s.agents, ['acme']);
      await installEnabled(s.agents, ROUTER, key);
      const copied = await send(s, 'sender@example.org', ['alice@example.com'], 'Subject: copy\r\n\r\nbody\r\n');
      const [a] = await s.waitForMail('example.com', 'alice', 1);
      const [d] = await s.waitForMail('example.com', 'dave', 1);
      for (const m of [a!, d!]) {
        const text = m.toString('latin1');
        assert.match(text, /^Return-Path: <sender@example\.org>\r\nReceived: /, 'the agent may not remove the trace field');
        assert.match(text, /\r\nX-Routed: alice@example\.com=maildir:example\.com dave@example\.com=maildir:example\.com\r\n/);
      }
      const agentSteps = (await tracked(s, copied, 'AGENT')).map((e) => `${e.agentEvent}:${e.verdict}`);
      assert.deepEqual(agentSteps, ['onSubmittedMessage:continue', 'onResolvedMessage:continue', 'onRoutedMessage:continue', 'onCategorizedMessage:continue']);

      const deleted = await send(s, 'sender@example.org', ['bob@example.com'], 'Subject: delete me\r\n\r\nbody\r\n');
      const [del] = await tracked(s, deleted, 'DELETE');
      assert.equal(del!.reply, 'policy: deleted');
      assert.equal(del!.agent, 'acme/router');
      const quarantined = await send(s, 'sender@example.org', ['bob@example.com'], 'Subject: quarantine me\r\n\r\nbody\r\n');
      assert.match((await tracked(s, quarantined, 'QUARANTINE'))[0]!.reply ?? '', /looks bad/);
      const held = s.spool.list().find((m) => m.envelope.id === quarantined);
      assert.equal(held?.state.hold?.kind, 'quarantine');
      assert.deepEqual(await s.mailbox('example.com', 'bob'), [], 'neither the deleted nor the quarantined message is delivered');
      assert.deepEqual(await s.mailbox('example.org', 'sender'), [], 'delete sends no report');
    },
    { recipients: RECIPIENTS },
  );
});

test('a routing agent defers a message: it returns to the submitted state and is categorized again after the delay', async () => {
  await withServer(
    async (s) => {
      const key = await trustedVendor(s.trust, s.agents, ['acme']);
      await installEnabled(s.agents, ROUTER, key);
      const id = await send(s, 'sender@example.org', ['carol@example.com'], 'Subject: defer me\r\n\r\nbody\r\n');
      const [defer] = await tracked(s, id, 'DEFER');
      assert.equal(defer!.reply, 'scanner busy');
      const started = Date.now();
      await s.waitForMail('example.com', 'carol', 1, 15_000);
      assert.ok(Date.now() - started >= 500, 'not delivered before the agent’s delay');
      const submitted = (await s.tracking.search({ queueId: id, event: 'AGENT' })).filter((e) => e.agentEvent === 'onSubmittedMessage');
      assert.equal(submitted.length, 2, 'onSubmittedMessage ran again after the deferral');
    },
    { recipients: RECIPIENTS },
  );
});

test('a routing override to a host sends that recipient to the direct connector; a removed recipient is not delivered', async () => {
  await withServer(
    async (s) => {
      const key = await trustedVendor(s.trust, s.agents, ['acme']);
      await installEnabled(s.agents, ROUTER, key);
      const id = await send(s, 'sender@example.org', ['alice@example.com', 'bob@example.com', 'carol@example.com'], 'Subject: reroute\r\n\r\nbody\r\n');
      await s.waitForMail('example.com', 'carol', 1);
      const routes = await tracked(s, id, 'ROUTE');
      assert.ok(routes.some((e) => e.nextHop === 'direct:nowhere.invalid:2' && e.recipients?.[0] === 'alice@example.com' && e.detail?.override === 'nowhere.invalid:2'), JSON.stringify(routes));
      const message = s.spool.list().find((m) => m.envelope.id === id);
      assert.deepEqual(message?.state.routed?.map((r) => [r.address, `${r.connector}:${r.destination}`]), [
        ['alice@example.com', 'direct:nowhere.invalid:2'],
        ['carol@example.com', 'maildir:example.com'],
      ]);
      assert.deepEqual(await s.mailbox('example.com', 'alice'), []);
      assert.deepEqual(await s.mailbox('example.com', 'bob'), []);
    },
    { recipients: RECIPIENTS },
  );
});

test('a message that crashes the sandbox host at every categorization goes to the poison queue instead of looping', async () => {
  await withServer(
    async (s) => {
      const key = await trustedVendor(s.trust, s.agents, ['acme']);
      const bomb: TestAgent = {
        name: 'acme/bomb',
        budgets: { onSubmittedMessage: 3000 },
        manifest: { kind: 'routing', memoryMiB: 128 },
        handlers: `onSubmittedMessage(e) { if ((e.message.headers.find((h) => h.name === 'Subject') || {}).value === 'boom') return { n: new Array(1e8).fill(0).length }; }`,
      };
      await installEnabled(s.agents, bomb, key);
      const id = await send(s, 'sender@example.org', ['alice@example.com'], 'Subject: boom\r\n\r\nbody\r\n');
      const fine = await send(s, 'sender@example.org', ['bob@example.com'], 'Subject: fine\r\n\r\nbody\r\n');
      await s.waitForMail('example.com', 'bob', 1, 20_000);
      const poison = await until('the poison entry', async () => (await s.tracking.search({ queueId: id, event: 'POISON' }))[0], 60_000);
      assert.match(poison.reply ?? '', /crashed 2 times/);
      const held = s.spool.list().find((m) => m.envelope.id === id);
      assert.equal(held?.state.hold?.kind, 'poison');
      assert.deepEqual(await s.mailbox('example.com', 'alice'), []);
      assert.ok((await s.tracking.search({ queueId: fine, event: 'DELIVER' })).length === 1, 'other mail flows while one message keeps crashing');
    },
    { recipients: RECIPIENTS, delivery: { poisonAfter: 2, retry: { firstMs: 100, maxMs: 200, expireMs: 600_000 } } },
  );
});

test('a routing agent forks recipients into a copy of their own, categorized again, so each copy gets its own edits; forking everyone is a no-op', async () => {
  await withServer(
    async (s) => {
      const key = await trustedVendor(s.trust, s.agents, ['acme']);
      const forker: TestAgent = {
        name: 'acme/forker',
        budgets: { onResolvedMessage: 500, onRoutedMessage: 500 },
        manifest: { kind: 'routing' },
        handlers: `
          onResolvedMessage(e) {
            const all = e.message.recipients.map((r) => r.address);
            if (all.includes('bob@example.com')) return { verdict: 'continue', recipients: [{ op: 'fork', addresses: ['bob@example.com'] }] };
            if (all.includes('dave@example.com')) return { verdict: 'continue', recipients: [{ op: 'fork', addresses: all }] };
          },
          onRoutedMessage(e) {
            return { verdict: 'continue', headers: [{ op: 'add', name: 'X-Copy-For', value: e.message.recipients.map((r) => r.address).join(',') }] };
          }
        `,
      };
      await installEnabled(s.agents, forker, key);
      const id = await send(s, 'sender@example.org', ['alice@example.com', 'bob@example.com NOTIFY=SUCCESS', 'carol@example.com']);
      const [b] = await s.waitForMail('example.com', 'bob', 1);
      const [a] = await s.waitForMail('example.com', 'alice', 1);
      const [c] = await s.waitForMail('example.com', 'carol', 1);
      assert.match(b!.toString('latin1'), /\r\nX-Copy-For: bob@example\.com\r\n/);
      for (const m of [a!, c!]) assert.match(m.toString('latin1'), /\r\nX-Copy-For: alice@example\.com,carol@example\.com\r\n/);
      const [fork] = await tracked(s, id, 'FORK');
      assert.deepEqual(fork!.recipients, ['bob@example.com']);
      const copy = String(fork!.detail?.copy);
      assert.equal((await tracked(s, copy, 'DELIVER'))[0]!.recipients?.[0], 'bob@example.com');
      // The copy keeps bob's NOTIFY: a success report comes back for him alone.
      const [report] = await s.waitForMail('example.org', 'sender', 1);
      assert.match(report!.toString('latin1'), /Final-Recipient: rfc822; bob@example\.com\r\nAction: delivered/);

      const all = await send(s, 'sender@example.org', ['dave@example.com', 'alice@example.com']);
      await s.waitForMail('example.com', 'dave', 1);
      assert.deepEqual((await s.tracking.search({ queueId: all, event: 'FORK' })), [], 'forking every recipient does not copy the message');
    },
    { recipients: RECIPIENTS },
  );
});

test('a routing agent rewrites a recipient: the new address is resolved (an alias here) and keeps the original NOTIFY and ORCPT', async () => {
  await withServer(
    async (s) => {
      const key = await trustedVendor(s.trust, s.agents, ['acme']);
      await installEnabled(s.agents, ROUTER, key);
      await send(s, 'sender@example.org', ['alice@example.com NOTIFY=SUCCESS ORCPT=rfc822;alice@example.com'], 'Subject: rewrite\r\n\r\nbody\r\n');
      await s.waitForMail('example.com', 'carol', 1);
      assert.deepEqual(await s.mailbox('example.com', 'alice'), []);
      const [report] = await s.waitForMail('example.org', 'sender', 1);
      const text = report!.toString('latin1');
      assert.match(text, /Original-Recipient: rfc822; alice@example\.com\r\nFinal-Recipient: rfc822; carol@example\.com\r\nAction: delivered/);
    },
    { recipients: RECIPIENTS },
  );
});

test('a routing agent replaces the body: the mailbox gets the old headers (edited) with the new body, CRLF only; the stored replacement goes when the message does', async () => {
  await withServer(
    async (s) => {
      const key = await trustedVendor(s.trust, s.agents, ['acme']);
      await installEnabled(s.agents, ROUTER, key);
      await send(s, 'sender@example.org', ['alice@example.com'], 'Subject: replace body\r\nMessage-ID: <rb@client.test>\r\n\r\nsecret original body\r\n');
      const [m] = await s.waitForMail('example.com', 'alice', 1);
      const text = m!.toString('latin1');
      assert.match(text, /\r\nSubject: replaced\r\nMessage-ID: <rb@client\.test>\r\n\r\nThis message was replaced by policy\.\r\nSecond line\.\r\n$/);
      assert.ok(!text.includes('secret original body'));
      await until('the spool to drain', () => (s.spool.stats().messages === 0 ? true : undefined));
      await until('the replacement body to be removed', async () => ((await readdir(join(s.dataDir, 'spool', 'bodies'))).length === 0 ? true : undefined));
    },
    { recipients: RECIPIENTS },
  );
});
