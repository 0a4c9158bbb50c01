// The outbound transport pipeline end to end: a real server sending over real sockets to real SMTP
// peers (smtp-server on 127.0.0.1), MX lookups against a local DNS server, a signed delivery agent
// in the real sandbox host, retries, link state, queue admin, and DSNs parsed back field by field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { installEnabled, trustedVendor, type TestAgent } from '../testing/agent-kit.ts';
import { closedPort, startSmtpPeer, type SmtpPeer, type SmtpPeerOptions } from '../delivery/smtp-peer-test-kit.ts';
import { startDnsTestServer } from '../testing/dns-test-server.ts';
import type { ConfigInput } from '../config/schema.ts';
import type { TrackingEntry, TrackingEvent } from '../tracking/index.ts';
import { parseReport, sendMail, until, type ParsedReport } from './outbound-test-kit.ts';

const SENDER = 'sender@example.org';
/** The test server's accepted domains are example.com and example.org; relaying is allowed from loopback. */
const RELAY: ConfigInput['smtp'] = { relayNetworks: ['127.0.0.1/32'] };

type Connectors = NonNullable<NonNullable<ConfigInput['routing']>['connectors']>;

/** The smart-host connector for partner.test, pointed at `peer`. */
function relayVia(peer: { port: number }): Connectors[number] {
  return { name: 'relay', type: 'smtp', addressSpaces: ['partner.test'], smartHosts: [`127.0.0.1:${peer.port}`], tls: 'none' };
}

/** Starts the peers, then a server configured with them; always stops all of them. */
async function withPeers(peerOptions: SmtpPeerOptions[], config: (peers: SmtpPeer[]) => ConfigInput, fn: (s: TestServer, peers: SmtpPeer[]) => Promise<void>): Promise<void> {
  const peers: SmtpPeer[] = [];
  let server: TestServer | undefined;
  try {
    for (const options of peerOptions) peers.push(await startSmtpPeer(options));
    server = await startTestServer({ smtp: RELAY, ...config(peers) });
    await fn(server, peers);
  } finally {
    await server?.stop();
    for (const peer of peers) await peer.close();
  }
}

/** Waits until tracking holds at least `atLeast` entries of `event` for the message. */
function tracked(s: TestServer, queueId: string, event: TrackingEvent, atLeast = 1, timeoutMs?: number): Promise<TrackingEntry[]> {
  return until(
    `${atLeast} ${event} entries for ${queueId}`,
    async () => {
      const found = await s.tracking.search({ queueId, event });
      return found.length >= atLeast ? found : undefined;
    },
    timeoutMs,
  );
}

function drained(s: TestServer, timeoutMs?: number): Promise<true> {
  return until('the spool to drain', () => (s.spool.stats().messages === 0 ? true : undefined), timeoutMs);
}

/** Tracking entries as `nextHop recipients…`, sorted, for comparing whole sets. */
function hops(entries: readonly TrackingEntry[]): string[] {
  return entries.map((e) => `${e.nextHop ?? '?'} ${[...(e.recipients ?? [])].sort().join(' ')}`).sort();
}

/** The message as the pipeline carries it: a local copy without the Return-Path final delivery adds. */
function withoutReturnPath(local: Buffer, sender: string): string {
  const text = local.toString('latin1');
  const line = `Return-Path: <${sender}>\r\n`;
  assert.ok(text.startsWith(line), `the local copy starts with ${JSON.stringify(line)}`);
  return text.slice(line.length);
}

/** Checks what every report of this server says about the message; returns the one recipient group. */
function checkReport(report: ParsedReport, id: string, messageId: string): Map<string, string> {
  assert.equal(report.reportType, 'delivery-status');
  assert.equal(report.mail.from?.value[0]?.address, 'MAILER-DAEMON@mx.test');
  assert.deepEqual(
    report.mail.to && !Array.isArray(report.mail.to) ? report.mail.to.value.map((a) => a.address) : [],
    [SENDER],
  );
  assert.equal(report.mail.inReplyTo, `<${messageId}>`);
  assert.equal(report.mail.headers.get('auto-submitted'), 'auto-replied');
  const m = report.perMessage;
  assert.equal(m.get('reporting-mta'), 'dns; mx.test');
  assert.equal(m.get('received-from-mta'), 'dns; client.test ([127.0.0.1])');
  assert.equal(m.get('x-sluice-queue-id'), id);
  assert.ok(Number.isFinite(Date.parse(m.get('arrival-date') ?? '')), 'Arrival-Date is a date');
  assert.equal(report.recipients.length, 1, 'one recipient group');
  const r = report.recipients[0]!;
  assert.ok(Number.isFinite(Date.parse(r.get('last-attempt-date') ?? '')), 'Last-Attempt-Date is a date');
  // RET absent: the headers come back, not the body.
  assert.equal(report.returnedType, 'text/rfc822-headers');
  assert.match(report.returned, new RegExp(`\\r\\nMessage-ID: <${messageId.replace(/[.]/g, '\\.')}>\\r\\n`));
  assert.ok(!report.returned.includes('body line'), 'no body in a headers-only return');
  return r;
}

/** Reads and parses the sender's reports; asserts each is from the null sender. */
async function reportsTo(s: TestServer, count: number, timeoutMs?: number): Promise<ParsedReport[]> {
  const files = await s.waitForMail('example.org', 'sender', count, timeoutMs);
  for (const f of files) assert.ok(f.toString('latin1').startsWith('Return-Path: <>\r\n'), 'a report comes from the null sender');
  return Promise.all(files.map((f) => parseReport(f)));
}

/** A delivery agent that acks every recipient delivered and logs what it was handed, body included. */
const COURIER: TestAgent = {
  name: 'acme/courier',
  budgets: { onDeliverMailItem: 5000 },
  manifest: { kind: 'delivery', wantsBody: true },
  handlers: `
    onDeliverMailItem(e, ctx) {
      ctx.log.info('handed over', {
        connector: e.connector,
        id: e.item.id,
        sender: e.item.envelope.sender,
        recipients: e.item.envelope.recipients.join(','),
        items: e.item.recipients.map((r) => r.address).join(','),
        body: typeof e.body === 'string' ? e.body : null,
      });
      return { recipients: e.item.recipients.map((r) => ({ address: r.address, status: 'delivered' })) };
    }
  `,
};

test('one message split across a mailbox, a smart host and a delivery agent: each hop delivers its recipient once, tracked per hop; the smart host and the agent get the message byte for byte', async () => {
  await withPeers(
    [{}],
    ([peer]) => ({ routing: { connectors: [relayVia(peer!), { name: 'hook', type: 'agent', agent: 'acme/courier', addressSpaces: ['hooks.test'] }] } }),
    async (s, [peer]) => {
      const key = await trustedVendor(s.trust, s.agents, ['acme']);
      await installEnabled(s.agents, COURIER, key);
      // Lines that start with a dot are stuffed on the way in and on the way out: each side must undo it.
      const body =
        'From: <sender@example.org>\r\nTo: alice@example.com, bob@partner.test, carol@hooks.test\r\nSubject: three hops\r\nMessage-ID: <three-hops@client.test>\r\n\r\n' +
        'body line\r\n.leading dot\r\n..two dots\r\n.\r\n. \r\nlast line\r\n';
      const id = await sendMail(s.port, SENDER, ['alice@example.com', 'bob@partner.test', 'carol@hooks.test'], body);
      const [local] = await s.waitForMail('example.com', 'alice', 1);
      await drained(s);

      const carried = withoutReturnPath(local!, SENDER);
      assert.match(carried, new RegExp(`^Received: from client\\.test \\(\\[127\\.0\\.0\\.1\\]\\)\\r\\n\\tby mx\\.test \\(Sluice\\)\\r\\n\\twith ESMTP id ${id}; [^\\r\\n]+\\r\\n`));
      assert.ok(carried.endsWith(body), 'the local copy is the message as sent, dot-stuffing undone');

      assert.equal(peer!.transactions.length, 1, 'the smart host got one transaction');
      const [tx] = peer!.transactions;
      assert.equal(tx!.from, SENDER);
      assert.deepEqual(tx!.to, ['bob@partner.test'], 'only the smart host’s recipient is in its envelope');
      assert.equal(tx!.message.toString('latin1'), carried, 'the smart host got the same bytes, trace field included');

      const handed = s.logs.filter((l) => l.event === 'agent.log' && l.fields.agent === 'acme/courier');
      assert.equal(handed.length, 1, 'the delivery agent ran once');
      const saw = handed[0]!.fields;
      assert.deepEqual(
        { connector: saw.connector, id: saw.id, sender: saw.sender, recipients: saw.recipients, items: saw.items },
        { connector: 'hook', id, sender: SENDER, recipients: 'carol@hooks.test', items: 'carol@hooks.test' },
        'the agent sees its own recipient only',
      );
      assert.equal(typeof saw.body, 'string', 'an agent whose manifest sets wantsBody gets the body');
      assert.equal(Buffer.from(saw.body as string, 'base64').toString('latin1'), carried, 'the agent got the same bytes');

      const delivered = await tracked(s, id, 'DELIVER', 3);
      assert.deepEqual(hops(delivered), ['hook:hooks.test carol@hooks.test', 'maildir:example.com alice@example.com', `relay:127.0.0.1:${peer!.port} bob@partner.test`]);
      assert.ok(delivered.every((e) => e.messageId === 'three-hops@client.test' && e.sender === SENDER));
      for (const event of ['DEFER', 'FAIL', 'DSN'] as const) assert.deepEqual(await s.tracking.search({ queueId: id, event }), [], `no ${event}`);
      assert.deepEqual(await s.mailbox('example.org', 'sender'), [], 'no report');
    },
  );
});

test('direct MX delivery through a local DNS server; a domain that does not exist (NXDOMAIN) bounces with a 5.1.2 failure report, field by field', async () => {
  const dns = await startDnsTestServer({
    'far.test': { MX: [{ exchange: 'mx.far.test', priority: 10 }] },
    'mx.far.test': { A: ['127.0.0.1'] },
  });
  try {
    await withPeers(
      [{}],
      ([peer]) => ({
        // The implicit `direct` connector uses port 25; this one looks up MX records too (no smart hosts) but on the peer's port.
        routing: { dnsServers: [dns.server], connectors: [{ name: 'mx', type: 'smtp', addressSpaces: ['far.test'], port: peer!.port, tls: 'none' }] },
      }),
      async (s, [peer]) => {
        const far = await sendMail(s.port, SENDER, ['zoe@far.test'], 'Subject: far away\r\nMessage-ID: <far@client.test>\r\n\r\nbody line\r\n');
        const [delivered] = await tracked(s, far, 'DELIVER');
        assert.equal(delivered!.nextHop, 'mx:far.test');
        assert.deepEqual(delivered!.recipients, ['zoe@far.test']);
        assert.equal(peer!.transactions.length, 1);
        assert.deepEqual(peer!.transactions[0]!.to, ['zoe@far.test']);
        assert.ok(dns.queries.includes('MX far.test'), `MX asked: ${dns.queries.join(', ')}`);
        assert.ok(dns.queries.includes('A mx.far.test'), `the exchange's address asked: ${dns.queries.join(', ')}`);

        // gone.test matches no connector: the implicit `direct` one asks the same DNS server.
        const gone = await sendMail(s.port, SENDER, ['nobody@gone.test', 'zed@far.test'], 'Subject: nowhere\r\nMessage-ID: <gone@client.test>\r\n\r\nbody line\r\n');
        const [report] = await reportsTo(s, 1);
        await drained(s);
        const [failed] = await tracked(s, gone, 'FAIL');
        assert.equal(failed!.nextHop, 'direct:gone.test');
        assert.deepEqual(failed!.recipients, ['nobody@gone.test']);
        assert.equal(failed!.reply, '550 5.1.2 domain gone.test does not exist');
        assert.deepEqual(hops(await tracked(s, gone, 'DELIVER')), ['mx:far.test zed@far.test'], 'the other recipient is delivered');
        assert.deepEqual((await tracked(s, gone, 'DSN'))[0]!.recipients, ['nobody@gone.test']);

        assert.equal(report!.mail.subject, 'Undelivered Mail Returned to Sender');
        const r = checkReport(report!, gone, 'gone@client.test');
        assert.equal(r.get('final-recipient'), 'rfc822; nobody@gone.test');
        assert.equal(r.get('action'), 'failed');
        assert.equal(r.get('status'), '5.1.2');
        assert.equal(r.get('diagnostic-code'), 'smtp; 550 5.1.2 domain gone.test does not exist');
        assert.equal(r.has('remote-mta'), false, 'no remote MTA answered');
        assert.equal(r.has('will-retry-until'), false);
        assert.match(report!.mail.text ?? '', /nobody@gone\.test/);
        assert.equal(peer!.transactions.filter((t) => t.to.includes('nobody@gone.test')).length, 0);
      },
    );
  } finally {
    await dns.close();
  }
});

test('a recipient the next hop answers 450 is retried, gets one delay report and, after expiry, one failure report; the accepted recipient is delivered once', async () => {
  await withPeers(
    [{ rcpt: { 'slow@partner.test': '450 4.2.0 mailbox busy' } }],
    ([peer]) => ({
      routing: { connectors: [relayVia(peer!)] },
      delivery: { retry: { firstMs: 200, maxMs: 400, expireMs: 3000 }, delayNoticeMs: 500 },
    }),
    async (s, [peer]) => {
      const id = await sendMail(s.port, SENDER, ['fast@partner.test', 'slow@partner.test'], 'Subject: retry me\r\nMessage-ID: <retry@client.test>\r\n\r\nbody line\r\n');
      const reports = await reportsTo(s, 2, 30_000);
      await drained(s);
      assert.equal((await s.mailbox('example.org', 'sender')).length, 2, 'exactly two reports');

      const hop = `relay:127.0.0.1:${peer!.port}`;
      assert.deepEqual(hops(await tracked(s, id, 'DELIVER')), [`${hop} fast@partner.test`], 'the accepted recipient is delivered once');
      assert.equal(peer!.transactions.filter((t) => t.to.includes('fast@partner.test')).length, 1, 'the peer saw it once');
      assert.equal(peer!.transactions.filter((t) => t.to.includes('slow@partner.test')).length, 0);
      const defers = await s.tracking.search({ queueId: id, event: 'DEFER' });
      assert.ok(defers.length >= 2, `retried: ${defers.length} deferrals`);
      for (const d of defers) {
        assert.deepEqual([d.nextHop, d.recipients], [hop, ['slow@partner.test']]);
        assert.equal(d.reply, '450 4.2.0 mailbox busy');
      }
      const [fail] = await tracked(s, id, 'FAIL');
      assert.deepEqual(fail!.recipients, ['slow@partner.test']);
      assert.match(fail!.reply ?? '', /^450 4\.2\.0 mailbox busy \(gave up: in the queue since /);
      const dsns = await s.tracking.search({ queueId: id, event: 'DSN' });
      assert.deepEqual(dsns.map((e) => e.detail?.action), ['delayed', 'failed']);

      const delayed = reports.filter((r) => r.mail.subject === 'Delayed Mail (still being retried)');
      const failed = reports.filter((r) => r.mail.subject === 'Undelivered Mail Returned to Sender');
      assert.equal(delayed.length, 1, 'one delay report');
      assert.equal(failed.length, 1, 'one failure report');

      const d = checkReport(delayed[0]!, id, 'retry@client.test');
      assert.equal(d.get('final-recipient'), 'rfc822; slow@partner.test');
      assert.equal(d.get('action'), 'delayed');
      assert.equal(d.get('status'), '4.2.0');
      assert.equal(d.get('remote-mta'), 'dns; 127.0.0.1');
      assert.equal(d.get('diagnostic-code'), 'smtp; 450 4.2.0 mailbox busy');
      const arrival = Date.parse(delayed[0]!.perMessage.get('arrival-date') ?? '');
      const retryUntil = Date.parse(d.get('will-retry-until') ?? '');
      assert.equal(retryUntil - arrival, 3000, `Will-Retry-Until is the arrival plus expireMs (${d.get('will-retry-until')})`);
      assert.match(delayed[0]!.mail.text ?? '', /slow@partner\.test/);

      const f = checkReport(failed[0]!, id, 'retry@client.test');
      assert.equal(f.get('final-recipient'), 'rfc822; slow@partner.test');
      assert.equal(f.get('action'), 'failed');
      // RFC 3463 4.X.X: a persistent transient failure abandoned — the class stays that of the last reply, as Postfix reports expiry.
      assert.equal(f.get('status'), '4.2.0');
      assert.equal(f.get('remote-mta'), 'dns; 127.0.0.1');
      assert.match(f.get('diagnostic-code') ?? '', /^smtp; 450 4\.2\.0 mailbox busy \(gave up: in the queue since /);
      assert.equal(f.has('will-retry-until'), false, 'a final report promises no retry');
    },
  );
});

test('a smart host that refuses connections is marked down after linkDownAfter attempts; its queue then defers without connecting while other hops flow', async () => {
  const port = await closedPort();
  const hop = `dead:127.0.0.1:${port}`;
  await withPeers(
    [],
    () => ({
      routing: { connectors: [{ name: 'dead', type: 'smtp', addressSpaces: ['dead.test'], smartHosts: [`127.0.0.1:${port}`], tls: 'none' }] },
      delivery: { linkDownAfter: 2, linkRetryMs: 60_000, retry: { firstMs: 200, maxMs: 200, expireMs: 600_000 } },
    }),
    async (s) => {
      const first = await sendMail(s.port, SENDER, ['x@dead.test'], 'Subject: one\r\nMessage-ID: <dead-1@client.test>\r\n\r\nbody line\r\n');
      const down = await until('the queue to be down', () => s.queue.queues().find((q) => q.queue === hop && q.state === 'down'));
      const attempts = s.logs.filter((l) => l.event === 'outbound.host.failed' && l.fields.connector === 'dead').length;
      assert.equal(attempts, 2, 'down after two attempts that could not connect');
      const linkDown = s.logs.filter((l) => l.event === 'queue.link-down');
      assert.equal(linkDown.length, 1, 'one link-down line');
      assert.equal(linkDown[0]!.level, 'warn');
      assert.equal(linkDown[0]!.fields.queue, hop);
      assert.equal(down.kind, 'delivery');
      assert.equal(down.messages, 1);
      assert.match(down.lastError ?? '', /127\.0\.0\.1/, `the last error names the host: ${down.lastError}`);

      const second = await sendMail(s.port, SENDER, ['y@dead.test', 'alice@example.com'], 'Subject: two\r\nMessage-ID: <dead-2@client.test>\r\n\r\nbody line\r\n');
      await s.waitForMail('example.com', 'alice', 1);
      const [deferred] = await tracked(s, second, 'DEFER');
      assert.equal(deferred!.nextHop, hop);
      assert.deepEqual(deferred!.recipients, ['y@dead.test']);
      assert.match(deferred!.reply ?? '', new RegExp(`^451 4\\.4\\.1 next hop ${hop.replace(/[.]/g, '\\.')} is down \\(.+\\); retrying after \\d{4}-`));
      assert.deepEqual(hops(await tracked(s, second, 'DELIVER')), ['maildir:example.com alice@example.com'], 'mail to another hop still flows');
      // The first message keeps coming due (every 200 ms) and is deferred without an attempt too.
      const before = (await s.tracking.search({ queueId: first, event: 'DEFER' })).length;
      await tracked(s, first, 'DEFER', before + 2);
      assert.equal(s.logs.filter((l) => l.event === 'outbound.host.failed' && l.fields.connector === 'dead').length, attempts, 'no connection attempted while the hop is down');
      const queue = s.queue.queues().find((q) => q.queue === hop);
      assert.equal(queue?.state, 'down');
      assert.equal(queue?.messages, 2);
      assert.equal(queue?.recipients, 2);
      const listed = s.queue.messages(hop);
      assert.deepEqual(listed.messages.map((m) => m.id).sort(), [first, second].sort());
      for (const m of listed.messages) assert.match(m.lastReply ?? '', /^451 4\.4\.1 next hop .* is down/);
    },
  );
});

test('a per-recipient 5xx from the next hop bounces that recipient only; the others are delivered', async () => {
  await withPeers(
    [{ rcpt: { 'nobody@partner.test': '550 5.1.1 no such user here' } }],
    ([peer]) => ({ routing: { connectors: [relayVia(peer!)] } }),
    async (s, [peer]) => {
      const id = await sendMail(s.port, SENDER, ['ann@partner.test', 'nobody@partner.test', 'alice@example.com'], 'Subject: some of you\r\nMessage-ID: <some@client.test>\r\n\r\nbody line\r\n');
      const [report] = await reportsTo(s, 1);
      await s.waitForMail('example.com', 'alice', 1);
      await drained(s);
      const hop = `relay:127.0.0.1:${peer!.port}`;
      assert.equal(peer!.transactions.length, 1);
      assert.deepEqual(peer!.transactions[0]!.to, ['ann@partner.test']);
      assert.deepEqual(hops(await tracked(s, id, 'DELIVER', 2)), ['maildir:example.com alice@example.com', `${hop} ann@partner.test`]);
      const [fail] = await tracked(s, id, 'FAIL');
      assert.deepEqual([fail!.nextHop, fail!.recipients, fail!.reply], [hop, ['nobody@partner.test'], '550 5.1.1 no such user here']);
      assert.deepEqual(await s.tracking.search({ queueId: id, event: 'DEFER' }), [], 'a permanent refusal is not retried');

      assert.equal(report!.mail.subject, 'Undelivered Mail Returned to Sender');
      const r = checkReport(report!, id, 'some@client.test');
      assert.equal(r.get('final-recipient'), 'rfc822; nobody@partner.test');
      assert.equal(r.get('action'), 'failed');
      assert.equal(r.get('status'), '5.1.1');
      assert.equal(r.get('remote-mta'), 'dns; 127.0.0.1');
      assert.equal(r.get('diagnostic-code'), 'smtp; 550 5.1.1 no such user here');
      assert.ok(!(report!.mail.text ?? '').includes('ann@partner.test'), 'the delivered recipient is not in the report');
      assert.equal((await s.mailbox('example.org', 'sender')).length, 1, 'one report');
    },
  );
});

test('a suspended outbound queue keeps its mail with the suspension reply; resuming it delivers at once', async () => {
  await withPeers(
    [{}],
    ([peer]) => ({ routing: { connectors: [relayVia(peer!)] } }),
    async (s, [peer]) => {
      const hop = `relay:127.0.0.1:${peer!.port}`;
      await s.queue.suspend(hop);
      assert.deepEqual(
        s.queue.queues().map((q) => [q.queue, q.state, q.messages]),
        [[hop, 'suspended', 0]],
        'a suspended queue is listed while empty',
      );
      const id = await sendMail(s.port, SENDER, ['bob@partner.test', 'alice@example.com'], 'Subject: wait\r\nMessage-ID: <wait@client.test>\r\n\r\nbody line\r\n');
      await s.waitForMail('example.com', 'alice', 1);
      const [deferred] = await tracked(s, id, 'DEFER');
      const reply = `451 4.4.0 queue ${hop} is suspended by the administrator`;
      assert.deepEqual([deferred!.nextHop, deferred!.recipients, deferred!.reply], [hop, ['bob@partner.test'], reply]);
      const queue = s.queue.queues().find((q) => q.queue === hop);
      assert.deepEqual([queue?.state, queue?.messages, queue?.recipients], ['suspended', 1, 1]);
      const [listed] = s.queue.messages(hop).messages;
      assert.deepEqual([listed?.id, listed?.lastReply], [id, reply]);
      const detail = s.queue.message(id);
      assert.deepEqual(
        detail.recipientStatus.map((r) => [r.address, r.nextHop, r.status, r.reply]),
        [
          ['bob@partner.test', hop, 'pending', reply],
          ['alice@example.com', 'maildir:example.com', 'delivered', detail.recipientStatus[1]?.reply],
        ],
      );
      assert.equal(peer!.connections, 0, 'nothing connected to the suspended hop');

      assert.equal(await s.queue.resume(hop), 1, 'one message made due');
      const [delivered] = await tracked(s, id, 'DELIVER', 2).then((all) => all.filter((e) => e.nextHop === hop));
      assert.deepEqual(delivered?.recipients, ['bob@partner.test']);
      await drained(s);
      assert.equal(peer!.transactions.length, 1);
      assert.deepEqual(peer!.transactions[0]!.to, ['bob@partner.test']);
      assert.equal(s.queue.queues().find((q) => q.queue === hop), undefined, 'an active empty queue is not listed');
    },
  );
});

test('mail queued for a route that changed while the server was down goes out by the new route after the restart', async () => {
  const dead = await closedPort();
  const peer = await startSmtpPeer();
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-reroute-'));
  const base = { dataDir, smtp: { relayNetworks: ['127.0.0.1/32'] }, delivery: { retry: { firstMs: 200, maxMs: 400, expireMs: 600_000 } } } satisfies ConfigInput;
  try {
    const first = await startTestServer({ ...base, routing: { connectors: [{ name: 'partner', type: 'smtp', addressSpaces: ['partner.test'], smartHosts: [`127.0.0.1:${dead}`], tls: 'none' }] } });
    let id: string;
    try {
      id = await sendMail(first.port, 'sender@example.org', ['x@partner.test'], 'Subject: reroute\r\nMessage-ID: <reroute@test>\r\n\r\nbody\r\n');
      await until('the first deferral', async () => ((await first.tracking.search({ queueId: id, event: 'DEFER' })).length > 0 ? true : undefined));
    } finally {
      await first.stop();
    }
    const second = await startTestServer({ ...base, routing: { connectors: [{ name: 'partner', type: 'smtp', addressSpaces: ['partner.test'], smartHosts: [`127.0.0.1:${peer.port}`], tls: 'none' }] } });
    try {
      await until('delivery by the new route', () => (peer.transactions.some((t) => t.to.includes('x@partner.test')) ? true : undefined));
      const rerouted = await until('the reroute in tracking', async () => (await second.tracking.search({ queueId: id, event: 'ROUTE' })).find((e) => e.detail?.rerouted !== undefined));
      assert.equal(rerouted.detail?.rerouted, `partner:127.0.0.1:${dead}`);
      assert.equal(rerouted.nextHop, `partner:127.0.0.1:${peer.port}`);
      await until('the spool to drain', () => (second.spool.stats().messages === 0 ? true : undefined));
    } finally {
      await second.stop();
    }
  } finally {
    await peer.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('a second Sluice is the receiving MTA: relayed through a smart-host connector, delivered into its Maildir with both trace fields, bounced back across both for an unknown user', async () => {
  const senderPort = await closedPort();
  const receiver = await startTestServer({
    hostname: 'mx.partner.test',
    domains: ['partner.test'],
    recipients: { mailboxes: ['known@partner.test'] },
    routing: { connectors: [{ name: 'back', type: 'smtp', addressSpaces: ['example.org'], smartHosts: [`127.0.0.1:${senderPort}`], tls: 'opportunistic' }] },
  });
  const sender = await startTestServer({
    smtp: { listen: `127.0.0.1:${senderPort}`, relayNetworks: ['127.0.0.1/32'] },
    routing: { connectors: [{ name: 'partner', type: 'smtp', addressSpaces: ['partner.test'], smartHosts: [`127.0.0.1:${receiver.port}`], tls: 'opportunistic' }] },
  });
  try {
    await sendMail(sender.port, 'sender@example.org', ['known@partner.test', 'unknown@partner.test'], 'Subject: across\r\nMessage-ID: <across@test>\r\n\r\nhello\r\n');
    const [m] = await receiver.waitForMail('partner.test', 'known', 1, 20_000);
    const text = m!.toString('latin1');
    assert.match(text, /^Return-Path: <sender@example\.org>\r\nReceived: from mx\.test /, 'the receiver traced the hop from us');
    assert.match(text, /\r\nReceived: from client\.test [\s\S]*by mx\.test \(Sluice\)/, 'our own trace field travelled with it');
    assert.match(text, /with ESMTPS/, 'opportunistic STARTTLS was used between the two');
    // The receiver accepted both (no RCPT validation), bounces the unknown one, and routes the report back to us.
    const [report] = await sender.waitForMail('example.org', 'sender', 1, 20_000);
    const bounce = report!.toString('latin1');
    assert.match(bounce, /Final-Recipient: rfc822; unknown@partner\.test\r\nAction: failed\r\nStatus: 5\.1\.1/);
    assert.match(bounce, /Reporting-MTA: dns; mx\.partner\.test/);
    assert.match(bounce, /^Return-Path: <>\r\n/);
  } finally {
    await sender.stop();
    await receiver.stop();
  }
});
