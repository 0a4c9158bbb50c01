// The queue API against a real server: messages put in over real SMTP, kept queued by a broken Maildir,
// and every change checked in the spool, the mailboxes, queues.json, tracking and the audit log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { installEnabled, trustedVendor, type TestAgent } from '../testing/agent-kit.ts';
import { AUDIT_LOG_FILE } from './api-stores.ts';
import { call, startTestApi } from './api-test-kit.ts';
import { api, breakMailbox, deferred, sendMail, until, withQueueServer, type QueueServer } from './queue-test-kit.ts';

const HOP = 'maildir:example.com';
const HOP_PATH = encodeURIComponent(HOP);

async function auditLines(s: QueueServer): Promise<Record<string, any>[]> {
  const text = await readFile(join(s.dataDir, AUDIT_LOG_FILE), 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, any>);
}

const inSpool = (s: QueueServer, id: string): boolean => s.spool.list().some((m) => m.envelope.id === id);

test('GET /v1/queues lists the next hop with counts and next retry; its messages page shows the last reply', async () => {
  await withQueueServer(async (s) => {
    await breakMailbox(s, 'example.com', 'stuck');
    const first = await sendMail(s, 'sender@example.org', ['stuck@example.com', 'fine@example.com']);
    await deferred(s, first);
    const second = await sendMail(s, 'sender@example.org', ['stuck@example.com']);
    await deferred(s, second);

    const list = await api(s, 'GET', '/v1/queues');
    assert.equal(list.status, 200);
    assert.equal(list.json.queues.length, 1, JSON.stringify(list.json));
    const q = list.json.queues[0];
    assert.deepEqual({ ...q, nextRetryAt: typeof q.nextRetryAt }, { queue: HOP, kind: 'delivery', messages: 2, recipients: 2, state: 'active', nextRetryAt: 'number' });
    assert.ok(q.nextRetryAt > Date.now() + 30 * 60_000, 'the next retry is the long one configured');

    const page = await api(s, 'GET', `/v1/queues/${HOP_PATH}/messages`);
    assert.equal(page.status, 200);
    assert.equal(page.json.total, 2);
    assert.deepEqual(page.json.messages.map((m: { id: string }) => m.id), [first, second], 'oldest first');
    const m = page.json.messages[0];
    assert.match(m.lastReply, /^451 4\.3\.0 mailbox write failed/);
    assert.deepEqual(m.recipients, ['stuck@example.com', 'fine@example.com']);
    assert.equal(m.sender, 'sender@example.org');
    assert.equal(m.attempts, 1);
    assert.deepEqual(m.queues, [HOP]);

    const second2 = await api(s, 'GET', `/v1/queues/${HOP_PATH}/messages?limit=1&offset=1`);
    assert.equal(second2.json.total, 2);
    assert.deepEqual(second2.json.messages.map((x: { id: string }) => x.id), [second]);
    assert.deepEqual((await api(s, 'GET', '/v1/queues/direct%3Aexample.net/messages')).json, { total: 0, messages: [] }, 'an empty queue');
    assert.deepEqual((await api(s, 'GET', '/v1/queues/a%2Fb/messages')).json, { total: 0, messages: [] }, 'an encoded slash stays in the name');
  });
});

test('GET /v1/messages/{id} shows per-recipient status and tracking; /raw is the stored message, the sent bytes after the trace header', async () => {
  await withQueueServer(async (s) => {
    await breakMailbox(s, 'example.com', 'stuck');
    const content = 'Subject: export me\r\nMessage-ID: <export@client.test>\r\n\r\nline one\r\n..dot-stuffed\r\n';
    const id = await sendMail(s, 'sender@example.org', ['stuck@example.com', 'fine@example.com'], content);
    await deferred(s, id);

    const res = await api(s, 'GET', `/v1/messages/${id}`);
    assert.equal(res.status, 200);
    const m = res.json;
    assert.equal(m.id, id);
    assert.equal(m.stage, 'categorized');
    assert.deepEqual(m.client, { address: '127.0.0.1', helo: 'client.test', tls: false });
    const status = Object.fromEntries(m.recipientStatus.map((r: { address: string }) => [r.address, r]));
    assert.equal(status['stuck@example.com'].status, 'pending');
    assert.equal(status['stuck@example.com'].nextHop, HOP);
    assert.match(status['stuck@example.com'].reply, /^451 4\.3\.0 /);
    assert.equal(status['fine@example.com'].status, 'delivered');
    assert.equal(typeof status['fine@example.com'].at, 'number');
    const events = m.tracking.map((e: { event: string }) => e.event);
    assert.equal(events[0], 'RECEIVE');
    assert.ok(events.includes('DEFER') && events.includes('DELIVER'), events.join(','));
    const defer = m.tracking.find((e: { event: string }) => e.event === 'DEFER');
    assert.deepEqual(defer.recipients, ['stuck@example.com']);
    assert.ok(m.tracking.every((e: { queueId: string }) => e.queueId === id), 'only this message’s entries');

    const raw = await api(s, 'GET', `/v1/messages/${id}/raw`);
    assert.equal(raw.status, 200);
    assert.equal(raw.headers.get('content-type'), 'message/rfc822');
    assert.equal(raw.headers.get('content-disposition'), `attachment; filename="${id}.eml"`);
    const text = Buffer.from(raw.bytes).toString('latin1');
    const sent = content.replace('\r\n..', '\r\n.');
    assert.ok(text.endsWith(sent), text);
    const trace = text.slice(0, text.length - sent.length);
    assert.match(trace, /^Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n(\t[^\r\n]*\r\n)+$/);
    assert.match(trace, new RegExp(`id ${id};`));
  });
});

test('suspend keeps a next hop waiting (persisted in queues.json); resume retries its messages at once', async () => {
  await withQueueServer(async (s) => {
    const suspended = await api(s, 'POST', `/v1/queues/${HOP_PATH}/suspend`);
    assert.equal(suspended.status, 200, JSON.stringify(suspended.json));
    assert.deepEqual(suspended.json, { queue: HOP, kind: 'delivery', messages: 0, recipients: 0, state: 'suspended', nextRetryAt: null });
    const stored = JSON.parse(await readFile(join(s.dataDir, 'queues.json'), 'utf8')) as { suspended: string[] };
    assert.deepEqual(stored.suspended, [HOP]);

    const id = await sendMail(s, 'sender@example.org', ['alice@example.com']);
    const reply = await deferred(s, id);
    assert.match(reply, /^451 4\.4\.0 queue maildir:example\.com is suspended/);
    assert.deepEqual(await s.mailbox('example.com', 'alice'), [], 'nothing is delivered while suspended');
    const [q] = (await api(s, 'GET', '/v1/queues')).json.queues;
    assert.equal(q.state, 'suspended');
    assert.equal(q.messages, 1);

    const resumed = await api(s, 'POST', `/v1/queues/${HOP_PATH}/resume`, { json: {} });
    assert.equal(resumed.status, 200);
    assert.deepEqual(resumed.json, { retried: 1 });
    await s.waitForMail('example.com', 'alice', 1);
    assert.deepEqual(JSON.parse(await readFile(join(s.dataDir, 'queues.json'), 'utf8')).suspended, []);
    await until('the spool to drain', () => (s.spool.stats().messages === 0 ? true : undefined));

    for (const verb of ['suspend', 'resume']) {
      const refused = await api(s, 'POST', `/v1/queues/submission/${verb}`);
      assert.equal(refused.status, 400, verb);
      assert.equal(refused.json.code, 'NO_SUCH_QUEUE');
      assert.equal(refused.json.field, 'queue');
    }
    const audit = (await auditLines(s)).filter((l) => l.action.startsWith('queues.'));
    assert.deepEqual(
      audit.map((l) => [l.action, l.target, l.outcome, l.details ?? null]),
      [
        ['queues.suspend', HOP, 'ok', null],
        ['queues.resume', HOP, 'ok', { retried: 1 }],
        ['queues.suspend', 'submission', 'error', null],
        ['queues.resume', 'submission', 'error', null],
      ],
    );
  });
});

test('retry now: a deferred message is delivered once its mailbox is fixed, by id and by queue', async () => {
  await withQueueServer(async (s) => {
    const blocker = await breakMailbox(s, 'example.com', 'stuck');
    const a = await sendMail(s, 'sender@example.org', ['stuck@example.com']);
    await deferred(s, a);
    const b = await sendMail(s, 'sender@example.org', ['stuck@example.com']);
    await deferred(s, b);
    await rm(blocker);

    const retried = await api(s, 'POST', `/v1/messages/${a}/retry`);
    assert.equal(retried.status, 204);
    await s.waitForMail('example.com', 'stuck', 1);
    await until('a to leave the spool', () => (inSpool(s, a) ? undefined : true));
    assert.ok(inSpool(s, b), 'the other message still waits for its own retry');

    const byQueue = await api(s, 'POST', `/v1/queues/${HOP_PATH}/retry`);
    assert.equal(byQueue.status, 200);
    assert.deepEqual(byQueue.json, { retried: 1 });
    await s.waitForMail('example.com', 'stuck', 2);
    await until('the spool to drain', () => (s.spool.stats().messages === 0 ? true : undefined));
    const audit = (await auditLines(s)).filter((l) => l.action === 'messages.retry' || l.action === 'queues.retry');
    assert.deepEqual(audit.map((l) => [l.action, l.target, l.status]), [['messages.retry', a, 204], ['queues.retry', HOP, 200]]);
  });
});

test('a message being worked on is 409 BUSY with Retry-After; releasing one that is not held is 409 NOT_HELD', async () => {
  await withQueueServer(async (s) => {
    await breakMailbox(s, 'example.com', 'stuck');
    const id = await sendMail(s, 'sender@example.org', ['stuck@example.com']);
    await deferred(s, id);
    const claim = await s.spool.claimById(id, Date.now(), 60_000);
    assert.ok(claim, 'the test holds the lease');
    try {
      for (const [method, path] of [['POST', `/v1/messages/${id}/retry`], ['DELETE', `/v1/messages/${id}`]] as const) {
        const busy = await api(s, method, path);
        assert.equal(busy.status, 409, path);
        assert.equal(busy.json.code, 'BUSY');
        assert.equal(busy.headers.get('retry-after'), '1');
      }
    } finally {
      await s.spool.update(claim.lease, claim.state);
    }
    assert.equal((await api(s, 'POST', `/v1/messages/${id}/retry`)).status, 204, 'free again once the lease ends');
    const notHeld = await until('the retry to be done', async () => {
      const res = await api(s, 'POST', `/v1/messages/${id}/release`);
      return res.json.code === 'BUSY' ? undefined : res;
    });
    assert.equal(notHeld.status, 409);
    assert.equal(notHeld.json.code, 'NOT_HELD');
    assert.match(notHeld.json.detail, /is not held/);
  });
});

test('DELETE without ndr removes the message silently; with ndr=true the sender gets a failure report', async () => {
  await withQueueServer(async (s) => {
    await breakMailbox(s, 'example.com', 'stuck');
    const quiet = await sendMail(s, 'sender@example.org', ['stuck@example.com']);
    await deferred(s, quiet);
    const loud = await sendMail(s, 'sender@example.org', ['stuck@example.com'], 'Subject: report me\r\nMessage-ID: <loud@client.test>\r\n\r\nbody\r\n');
    await deferred(s, loud);
    assert.equal(s.spool.stats().messages, 2);

    const gone = await api(s, 'DELETE', `/v1/messages/${quiet}`);
    assert.equal(gone.status, 204);
    assert.equal(s.spool.stats().messages, 1);
    assert.equal((await api(s, 'GET', `/v1/messages/${quiet}`)).status, 404);

    const reported = await api(s, 'DELETE', `/v1/messages/${loud}?ndr=true`);
    assert.equal(reported.status, 204);
    assert.ok(!inSpool(s, loud));
    const [report] = await s.waitForMail('example.org', 'sender', 1);
    assert.equal((await s.mailbox('example.org', 'sender')).length, 1, 'one report, for the ndr=true delete only');
    const parsed = await simpleParser(report!);
    assert.equal(parsed.headers.get('content-type') && (parsed.headers.get('content-type') as { value: string }).value, 'multipart/report');
    const text = report!.toString('latin1');
    assert.match(text, /Final-Recipient: rfc822; ?stuck@example\.com/i);
    assert.match(text, /Action: failed/);
    assert.match(text, /deleted from the queue by the administrator/);

    const events = (await s.tracking.search({ event: 'DELETE' })).map((e) => [e.queueId, e.reply]);
    assert.deepEqual(events, [
      [quiet, 'deleted by the administrator, without a report'],
      [loud, 'deleted by the administrator, with a non-delivery report'],
    ]);
    const audit = (await auditLines(s)).filter((l) => l.action === 'messages.delete');
    assert.deepEqual(audit.map((l) => [l.target, l.details, l.status]), [[quiet, { ndr: false }, 204], [loud, { ndr: true }, 204]]);
  });
});

const QUARANTINER: TestAgent = {
  name: 'acme/router',
  budgets: { onSubmittedMessage: 500 },
  manifest: { kind: 'routing' },
  handlers: `
    onSubmittedMessage(e) {
      const subject = (e.message.headers.find((h) => h.name.toLowerCase() === 'subject') || {}).value || '';
      if (subject === 'quarantine me') return { verdict: 'quarantine', reason: 'looks bad' };
    }
  `,
};

test('a quarantined message is held (retry is 409 NOT_HELD) until released, then delivered', async () => {
  await withQueueServer(async (s) => {
    const key = await trustedVendor(s.trust, s.agents, ['acme']);
    await installEnabled(s.agents, QUARANTINER, key);
    const id = await sendMail(s, 'sender@example.org', ['bob@example.com'], 'Subject: quarantine me\r\n\r\nbody\r\n');
    const held = await until('the quarantine', async () => {
      const queues = (await api(s, 'GET', '/v1/queues')).json.queues as { queue: string }[];
      return queues.find((q) => q.queue === 'quarantine');
    });
    assert.deepEqual(held, { queue: 'quarantine', kind: 'quarantine', messages: 1, recipients: 1, state: 'held', nextRetryAt: null });
    const detail = (await api(s, 'GET', `/v1/messages/${id}`)).json;
    assert.equal(detail.hold.kind, 'quarantine');
    assert.match(detail.hold.reason, /looks bad/);
    assert.ok(detail.tracking.some((e: { event: string }) => e.event === 'QUARANTINE'));

    const retry = await api(s, 'POST', `/v1/messages/${id}/retry`);
    assert.equal(retry.status, 409);
    assert.equal(retry.json.code, 'NOT_HELD');
    assert.match(retry.json.detail, /is held \(quarantine\): release it instead/);

    // Released with the agent still on, it would be quarantined again.
    await s.agents.disable(QUARANTINER.name);
    const released = await api(s, 'POST', `/v1/messages/${id}/release`);
    assert.equal(released.status, 204);
    await s.waitForMail('example.com', 'bob', 1);
    await until('the spool to drain', () => (s.spool.stats().messages === 0 ? true : undefined));
    assert.ok((await s.tracking.search({ queueId: id, event: 'RELEASE' })).length === 1);
    const again = await api(s, 'POST', `/v1/messages/${id}/release`);
    assert.equal(again.status, 404);
    assert.equal(again.json.field, 'id');

  });
});

test('a read-only token may look but not change; bad ids are 400 naming id, unknown ones 404', async () => {
  await withQueueServer(async (s) => {
    await breakMailbox(s, 'example.com', 'stuck');
    const id = await sendMail(s, 'sender@example.org', ['stuck@example.com']);
    await deferred(s, id);
    const created = await api(s, 'POST', '/v1/tokens', { json: { name: 'viewer' } });
    assert.equal(created.status, 201);
    const ro = created.json.token as string;

    for (const path of ['/v1/queues', `/v1/queues/${HOP_PATH}/messages`, `/v1/messages/${id}`, `/v1/messages/${id}/raw`]) {
      assert.equal((await api(s, 'GET', path, { token: ro })).status, 200, path);
      assert.equal((await api(s, 'GET', path, { token: null })).status, 401, path);
    }
    for (const [method, path] of [
      ['DELETE', `/v1/messages/${id}`],
      ['POST', `/v1/messages/${id}/retry`],
      ['POST', `/v1/messages/${id}/release`],
      ['POST', `/v1/queues/${HOP_PATH}/suspend`],
      ['POST', `/v1/queues/${HOP_PATH}/resume`],
      ['POST', `/v1/queues/${HOP_PATH}/retry`],
    ] as const) {
      const denied = await api(s, method, path, { token: ro });
      assert.equal(denied.status, 403, path);
      assert.equal(denied.json.code, 'FORBIDDEN');
    }
    assert.ok(inSpool(s, id), 'still queued');
    const denials = (await auditLines(s)).filter((l) => l.outcome === 'denied');
    assert.equal(denials.length, 6);
    assert.deepEqual(denials[0]!.token, { name: 'viewer', role: 'read-only' });

    for (const [method, path] of [
      ['GET', '/v1/messages/short'],
      ['GET', '/v1/messages/has-a-dash-0123/raw'],
      ['POST', '/v1/messages/not%20an%20id/retry'],
      ['DELETE', `/v1/messages/${'A'.repeat(41)}`],
    ] as const) {
      const bad = await api(s, method, path);
      assert.equal(bad.status, 400, path);
      assert.equal(bad.json.code, 'INVALID_ID', path);
      assert.equal(bad.json.field, 'id', path);
      assert.match(bad.json.errors[0].message, /8 to 40 letters and digits/);
    }
    for (const [method, path] of [['GET', '/v1/messages/01ABCDEFGHJKMNPQRSTVWXYZ00'], ['GET', '/v1/messages/01ABCDEFGHJKMNPQRSTVWXYZ00/raw'], ['DELETE', '/v1/messages/01ABCDEFGHJKMNPQRSTVWXYZ00']] as const) {
      const unknown = await api(s, method, path);
      assert.equal(unknown.status, 404, path);
      assert.equal(unknown.json.code, 'NOT_FOUND');
      assert.equal(unknown.json.field, 'id');
    }
    const query: [string, string, RegExp][] = [
      [`/v1/queues/${HOP_PATH}/messages?limit=0`, 'limit', /from 1 to 1000/],
      [`/v1/queues/${HOP_PATH}/messages?offset=-1`, 'offset', /whole number/],
      [`/v1/queues/${HOP_PATH}/messages?page=2`, 'page', /unknown field/],
      [`/v1/messages/${id}?ndr=yes`, 'ndr', /true or false/],
    ];
    for (const [path, field, message] of query) {
      const bad = await api(s, path.includes('ndr') ? 'DELETE' : 'GET', path);
      assert.equal(bad.status, 400, path);
      assert.equal(bad.json.field, field, path);
      assert.match(bad.json.errors[0].message, message, path);
    }
    const badQueue = await api(s, 'GET', '/v1/queues/no%20spaces/messages');
    assert.equal(badQueue.status, 400);
    assert.equal(badQueue.json.field, 'queue');
    assert.ok(inSpool(s, id), 'nothing was deleted by the refused requests');
  });
});

test('without the queue the routes answer 503 QUEUE_UNAVAILABLE, and the OpenAPI document lists them', async () => {
  const t = await startTestApi();
  try {
    for (const path of ['/v1/queues', '/v1/messages/01ABCDEFGHJKMNPQRSTVWXYZ00']) {
      const res = await call(t, 'GET', path);
      assert.equal(res.status, 503, path);
      assert.equal(res.json.code, 'QUEUE_UNAVAILABLE');
    }
    const doc = (await call(t, 'GET', '/v1/openapi.json')).json as { paths: Record<string, Record<string, any>> };
    assert.deepEqual(Object.keys(doc.paths).filter((p) => p.startsWith('/v1/queues') || p.startsWith('/v1/messages')).sort(), [
      '/v1/messages/{id}',
      '/v1/messages/{id}/raw',
      '/v1/messages/{id}/release',
      '/v1/messages/{id}/retry',
      '/v1/queues',
      '/v1/queues/{queue}/messages',
      '/v1/queues/{queue}/resume',
      '/v1/queues/{queue}/retry',
      '/v1/queues/{queue}/suspend',
    ]);
    const del = doc.paths['/v1/messages/{id}']!.delete;
    const ndr = del.parameters.find((p: { name: string }) => p.name === 'ndr');
    assert.equal(ndr.in, 'query');
    assert.equal(ndr.required, false);
    assert.match(JSON.stringify(ndr.schema), /default false/);
    assert.equal(del['x-sluice-audit-action'], 'messages.delete');
    assert.ok(doc.paths['/v1/messages/{id}/raw']!.get.responses['200'].content['message/rfc822']);
  } finally {
    await t.close();
  }
});
