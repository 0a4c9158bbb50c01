import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SmtpListener } from './smtp-listener.ts';
import { NetworkList } from './cidr.ts';
import { RawSmtpClient } from '../testing/raw-smtp-client.ts';
import { RecipientResolver } from '../routing/recipient-resolver.ts';
import { JournalStore } from '../spool/journal-store.ts';
import { createAcceptor } from '../pipeline/accept-message.ts';
import { newQueueId } from '../spool/queue-id.ts';
import type { SessionConfig } from './session-types.ts';

const domains = ['example.com', 'example.org'];
const resolver = new RecipientResolver({
  domains,
  mailboxes: ['alice@example.com', 'bob@example.org'],
  aliases: { 'info@example.com': ['alice@example.com'] },
  groups: { 'team@example.com': ['alice@example.com', 'bob@example.org'] },
});

interface Harness {
  port: number;
  spool: JournalStore;
}

/** A real listener on loopback over a real journal in a temp dir, validating RCPT with the resolver. */
async function withListener(opts: { relay: boolean; validate: boolean }, fn: (h: Harness) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-rcpt-'));
  const spool = new JournalStore({ dir: join(dir, 'spool') });
  await spool.open();
  const session: Omit<SessionConfig, 'relayClient' | 'client'> = {
    hostname: 'mx.test',
    limits: { commandLineOctets: 512, textLineOctets: 1000, messageSize: 1024 * 1024, recipients: 100, errors: 20, unknownCommands: 10, authFailures: 3, messagesPerConnection: 100 },
    timeouts: { commandMs: 60_000, dataIdleMs: 60_000, dataTotalMs: 60_000, tlsHandshakeMs: 60_000 },
    isLocalDomain: (d) => domains.includes(d),
    tlsAvailable: false,
    authAvailable: false,
    allowPlaintextAuth: false,
  };
  // The server passes the check only when `recipients.validate` is on.
  if (opts.validate) session.isKnownRecipient = (address) => resolver.isKnown(address);
  const listener = new SmtpListener({
    maxConnections: 10,
    maxConnectionsPerClient: 10,
    greetingDelayMs: 0,
    secureContext: null,
    relayNetworks: new NetworkList(opts.relay ? ['127.0.0.1'] : []),
    session,
    ports: {
      commit: createAcceptor({ spool, hostname: 'mx.test', newId: newQueueId, now: Date.now, log: () => {} }),
      verifyPassword: async () => 'invalid',
      log: () => {},
    },
    onConnectionClosed: () => {},
  });
  try {
    const { port } = await listener.listen('127.0.0.1', 0);
    await fn({ port, spool });
  } finally {
    await listener.close();
    await spool.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Connects, says EHLO and MAIL, and returns the client ready for RCPT. */
async function openTransaction(port: number): Promise<RawSmtpClient> {
  const c = await RawSmtpClient.connect(port);
  assert.equal((await c.reply()).code, 220);
  assert.equal((await c.command('EHLO client.test')).code, 250);
  assert.equal((await c.command('MAIL FROM:<sender@remote.test>')).code, 250);
  return c;
}

const rcptCases: [name: string, opts: { relay: boolean; validate: boolean }, rcpt: string, reply: RegExp][] = [
  ['a known mailbox is accepted', { relay: false, validate: true }, '<alice@example.com>', /^250 2\.1\.5 /],
  ['a known mailbox in another case is accepted', { relay: false, validate: true }, '<Alice@EXAMPLE.com>', /^250 2\.1\.5 /],
  ['an unknown local recipient is refused 550 5.1.1', { relay: false, validate: true }, '<nobody@example.com>', /^550 5\.1\.1 <nobody@example\.com>: Recipient address rejected: User unknown in local recipient table$/],
  ['an unknown recipient in the second accepted domain is refused', { relay: false, validate: true }, '<alice@example.org>', /^550 5\.1\.1 <alice@example\.org>: /],
  ['an alias is accepted', { relay: false, validate: true }, '<info@example.com>', /^250 2\.1\.5 /],
  ['a distribution group is accepted', { relay: false, validate: true }, '<team@example.com>', /^250 2\.1\.5 /],
  ['a remote recipient from a relay client is accepted', { relay: true, validate: true }, '<someone@remote.test>', /^250 2\.1\.5 /],
  ['a remote recipient from anyone else is still relay-denied', { relay: false, validate: true }, '<someone@remote.test>', /^554 5\.7\.1 /],
  ['bare postmaster is accepted', { relay: false, validate: true }, '<postmaster>', /^250 2\.1\.5 /],
  ['postmaster of an accepted domain is accepted', { relay: false, validate: true }, '<PostMaster@example.org>', /^250 2\.1\.5 /],
  ['without validation an unknown local recipient is accepted (bounced later)', { relay: false, validate: false }, '<nobody@example.com>', /^250 2\.1\.5 /],
];

for (const [name, opts, rcpt, expected] of rcptCases) {
  test(`RCPT validation: ${name}`, async () => {
    await withListener(opts, async ({ port }) => {
      const c = await openTransaction(port);
      try {
        const r = await c.command(`RCPT TO:${rcpt}`);
        assert.match(r.lines[0]!, expected);
      } finally {
        c.close();
      }
    });
  });
}

test('RCPT validation: unknown recipients are left out of a pipelined transaction; the rest is spooled', async () => {
  await withListener({ relay: false, validate: true }, async ({ port, spool }) => {
    const c = await openTransaction(port);
    try {
      c.write('RCPT TO:<alice@example.com>\r\nRCPT TO:<ghost@example.com>\r\nRCPT TO:<team@example.com>\r\nDATA\r\n');
      const codes = [];
      for (let i = 0; i < 4; i++) codes.push((await c.reply()).code);
      assert.deepEqual(codes, [250, 550, 250, 354]);
      c.write('Subject: t\r\n\r\nhello\r\n.\r\n');
      assert.match((await c.reply()).lines[0]!, /^250 2\.0\.0 OK: queued as /);
      const claims = await spool.claim(Date.now() + 1000, 10, 60_000);
      assert.equal(claims.length, 1);
      assert.deepEqual(
        claims[0]!.envelope.recipients.map((r) => r.address),
        ['alice@example.com', 'team@example.com'],
      );
    } finally {
      c.close();
    }
  });
});

test('RCPT validation: a transaction whose only recipient was unknown has no valid recipients at DATA', async () => {
  await withListener({ relay: false, validate: true }, async ({ port }) => {
    const c = await openTransaction(port);
    try {
      assert.equal((await c.command('RCPT TO:<ghost@example.com>')).code, 550);
      assert.match((await c.command('DATA')).lines[0]!, /^554 5\.5\.1 No valid recipients$/);
    } finally {
      c.close();
    }
  });
});

test('RCPT validation: refused recipients count against the error limit (no endless directory harvest)', async () => {
  await withListener({ relay: false, validate: true }, async ({ port }) => {
    const c = await openTransaction(port);
    try {
      for (let i = 0; i < 19; i++) assert.equal((await c.command(`RCPT TO:<guess${i}@example.com>`)).code, 550);
      const last = await c.command('RCPT TO:<guess19@example.com>');
      assert.equal(last.code, 550);
      assert.match(await c.untilClosed(), /^421 4\.7\.0 Too many errors/);
      assert.ok(c.closed);
    } finally {
      c.close();
    }
  });
});
