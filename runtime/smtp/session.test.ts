import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SmtpSession, type SessionConfig, type SessionIO, type SessionPorts } from './session.ts';
import type { Transaction } from './transaction.ts';

/** The session's socket edge, in memory: what was written, in how many writes, and whether it closed. */
function memoryIo(): SessionIO & { writes: string[]; closed: boolean } {
  return {
    writes: [],
    closed: false,
    write(text) {
      this.writes.push(text);
    },
    close() {
      this.closed = true;
    },
    startTls: () => Promise.reject(new Error('no TLS in memory')),
    deadline() {},
    idle() {},
    drained() {},
  };
}

const config: SessionConfig = {
  hostname: 'mx.test',
  limits: {
    commandLineOctets: 512,
    textLineOctets: 1000,
    messageSize: 1024 * 1024,
    recipients: 100,
    errors: 20,
    unknownCommands: 10,
    authFailures: 3,
    messagesPerConnection: 100,
  },
  timeouts: { commandMs: 60_000, dataIdleMs: 60_000, dataTotalMs: 60_000, tlsHandshakeMs: 60_000 },
  isLocalDomain: (d) => d === 'example.com',
  client: { address: '192.0.2.1', port: 40000 },
  relayClient: false,
  tlsAvailable: false,
  authAvailable: false,
  allowPlaintextAuth: false,
};

function ports(committed: Transaction[]): SessionPorts {
  return {
    commit: async (tx) => {
      committed.push(tx);
      return { ok: true, id: `Q${committed.length}` };
    },
    verifyPassword: async () => 'invalid',
    log: () => {},
  };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test('replies to a pipelined group leave in one write, in order', async () => {
  const io = memoryIo();
  const session = new SmtpSession(config, ports([]), io);
  session.start();
  session.push(enc('EHLO c.test\r\n'));
  await settle();
  io.writes.length = 0;
  session.push(enc('MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n'));
  await settle();
  assert.equal(io.writes.length, 1);
  assert.deepEqual(io.writes[0]!.split('\r\n').slice(0, 4).map((l) => l.slice(0, 3)), ['250', '250', '250', '354']);
});

test('the transaction handed to commit carries sender, recipients, parameters and unstuffed content', async () => {
  const committed: Transaction[] = [];
  const io = memoryIo();
  const session = new SmtpSession(config, ports(committed), io);
  session.start();
  for (const line of ['EHLO c.test', 'MAIL FROM:<a@example.com> BODY=8BITMIME RET=HDRS', 'RCPT TO:<b@example.com> NOTIFY=FAILURE', 'DATA']) {
    session.push(enc(`${line}\r\n`));
    await settle();
  }
  session.push(enc('Subject: x\r\n\r\n..leading dot\r\n.\r\n'));
  await settle();
  assert.equal(committed.length, 1);
  const tx = committed[0]!;
  assert.equal(tx.sender, 'a@example.com');
  assert.deepEqual(tx.recipients, [{ address: 'b@example.com', params: { notify: ['FAILURE'] } }]);
  assert.equal(tx.params.body, '8BITMIME');
  assert.equal(tx.params.ret, 'HDRS');
  assert.equal(Buffer.concat(tx.chunks).toString(), 'Subject: x\r\n\r\n.leading dot\r\n');
  assert.match(io.writes.at(-1)!, /^250 2\.0\.0 OK: queued as Q1\r\n$/);
});

test('a timeout while waiting says 421 4.4.2 and closes', () => {
  const io = memoryIo();
  const session = new SmtpSession(config, ports([]), io);
  session.start();
  session.timeout();
  assert.match(io.writes.at(-1)!, /^421 4\.4\.2 /);
  assert.equal(io.closed, true);
  assert.equal(session.stats.end, 'timeout');
});
