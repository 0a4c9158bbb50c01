// SmtpConnector against real receiving MTAs (smtp-server, and a raw node:net server for the wire)
// on loopback addresses, with MX records from a real DNS server on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as v from 'valibot';
import { ConnectorSchema } from '../config/schema.ts';
import type { LogFields, LogLevel } from '../log/logger.ts';
import { MxResolver } from '../routing/mx-resolver.ts';
import { startDnsTestServer, type DnsTestServer, type ZoneRecords } from '../testing/dns-test-server.ts';
import type { ConnectorItem, RecipientOutcome } from './connector.ts';
import { SmtpConnector, type SmtpConnectorConfig } from './smtp-connector.ts';
import { closedPort, startSmtpPeer, type SmtpPeer, type SmtpPeerOptions } from './smtp-peer-test-kit.ts';
import { startRawSmtpPeer } from './raw-smtp-peer.ts';

const MESSAGE = 'From: a@sender.test\r\nTo: b@example.test\r\nSubject: hello\r\n\r\nHello there.\r\n';

interface ItemOptions {
  sender?: string;
  message?: string | Buffer;
  smtputf8?: boolean;
  bodyType?: '7BIT' | '8BITMIME';
  notify?: Record<string, 'NEVER' | ('SUCCESS' | 'FAILURE' | 'DELAY')[]>;
  ret?: 'FULL' | 'HDRS';
  envid?: string;
}

let serial = 0;

function item(recipients: string[], options: ItemOptions = {}): ConnectorItem {
  const message = Buffer.from(options.message ?? MESSAGE);
  return {
    envelope: {
      id: `TESTQUEUEID${String(++serial).padStart(6, '0')}`,
      sender: options.sender ?? 'a@sender.test',
      recipients: recipients.map((address) => ({ address, ...(options.notify?.[address] ? { notify: options.notify[address] } : {}) })),
      receivedAt: Date.now(),
      size: message.length,
      bodyType: options.bodyType ?? '7BIT',
      smtputf8: options.smtputf8 ?? false,
      ...(options.ret ? { ret: options.ret } : {}),
      ...(options.envid ? { envid: options.envid } : {}),
      client: { address: '127.0.0.1', port: 1, helo: 'client.test', tls: false },
    },
    message: new Uint8Array(message),
    recipients: recipients.map((address, index) => ({ index: index + 10, address, domain: address.slice(address.lastIndexOf('@') + 1), localPart: address.slice(0, address.lastIndexOf('@')) })),
  };
}

interface Setup {
  connector: SmtpConnector;
  logs: { level: LogLevel; event: string; fields: LogFields }[];
  dns: DnsTestServer;
}

/** A connector (and its DNS server) for one test; everything is closed afterwards. */
async function withConnector(
  config: Partial<v.InferInput<typeof ConnectorSchema>>,
  zone: Record<string, ZoneRecords>,
  run: (setup: Setup) => Promise<void>,
  now?: () => number,
): Promise<void> {
  const dns = await startDnsTestServer(zone);
  const logs: Setup['logs'] = [];
  const parsed = v.parse(ConnectorSchema, { type: 'smtp', name: 'outbound', addressSpaces: ['*'], ...config }) as SmtpConnectorConfig;
  const connector = new SmtpConnector({
    config: parsed,
    hostname: 'sluice.test',
    resolver: new MxResolver({ servers: [dns.server], timeoutMs: 400, cacheMs: 0 }),
    log: (level, event, fields = {}) => logs.push({ level, event, fields }),
    timeouts: { connectMs: 3000, greetingMs: 5000, socketMs: 10_000 },
    ...(now ? { now, poolIdleMs: 60_000 } : {}),
  });
  try {
    await run({ connector, logs, dns });
  } finally {
    await connector.close();
    await dns.close();
  }
}

async function withPeers(list: SmtpPeerOptions[], run: (peers: SmtpPeer[]) => Promise<void>): Promise<void> {
  const peers: SmtpPeer[] = [];
  try {
    for (const options of list) peers.push(await startSmtpPeer(options));
    await run(peers);
  } finally {
    for (const peer of peers) await peer.close();
  }
}

function only(outcomes: RecipientOutcome[][]): RecipientOutcome[] {
  assert.equal(outcomes.length, 1);
  return outcomes[0] ?? [];
}

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('MX hosts are tried by preference: the best one that answers gets the message', async () => {
  await withPeers([{}], async ([best]) => {
    const second = await startSmtpPeer({ host: '127.0.0.3', port: best?.port ?? 0 });
    try {
      const zone = {
        'example.test': { MX: [{ exchange: 'mx-b.example.test', priority: 20 }, { exchange: 'mx-a.example.test', priority: 10 }] },
        'mx-a.example.test': { A: ['127.0.0.1'] },
        'mx-b.example.test': { A: ['127.0.0.3'] },
      };
      await withConnector({ port: best?.port }, zone, async ({ connector }) => {
        const outcomes = only(await connector.deliver({ connector: 'outbound', destination: 'example.test' }, [item(['b@example.test', 'c@example.test'])]));
        assert.deepEqual(outcomes.map((o) => [o.index, o.outcome, o.remoteMta]), [[10, 'delivered', 'mx-a.example.test'], [11, 'delivered', 'mx-a.example.test']]);
        assert.match(outcomes[0]?.outcome === 'delivered' ? outcomes[0].detail : '', /^250 2\.0\.0 /);
        assert.equal(best?.transactions.length, 1);
        assert.deepEqual(best?.transactions[0]?.to, ['b@example.test', 'c@example.test']);
        assert.equal(best?.transactions[0]?.from, 'a@sender.test');
        assert.equal(best?.transactions[0]?.message.toString(), MESSAGE);
        assert.equal(second.connections, 0);
      });
    } finally {
      await second.close();
    }
  });
});

test('falls back to the next MX host when the first refuses connections', async () => {
  await withPeers([{}], async ([peer]) => {
    const zone = {
      'example.test': { MX: [{ exchange: 'mx1.example.test', priority: 10 }, { exchange: 'mx2.example.test', priority: 20 }] },
      // Nothing listens on 127.0.0.2 at the peer's port.
      'mx1.example.test': { A: ['127.0.0.2'] },
      'mx2.example.test': { A: ['127.0.0.1'] },
    };
    await withConnector({ port: peer?.port }, zone, async ({ connector, logs }) => {
      const outcomes = only(await connector.deliver({ connector: 'outbound', destination: 'example.test' }, [item(['b@example.test'])]));
      assert.equal(outcomes[0]?.outcome, 'delivered');
      assert.equal(outcomes[0]?.remoteMta, 'mx2.example.test');
      assert.equal(peer?.transactions.length, 1);
      const failed = logs.filter((l) => l.event === 'outbound.host.failed');
      assert.equal(failed.length, 1);
      assert.equal(failed[0]?.fields.reply, `451 4.4.1 connection refused by mx1.example.test[127.0.0.2]:${peer?.port}`);
    });
  });
});

test('a host that refuses the session in its greeting is skipped for the next one', async () => {
  await withPeers([{}], async ([good]) => {
    const busy = await startSmtpPeer({ host: '127.0.0.4', port: good?.port ?? 0, greeting: '421 4.3.2 too busy' });
    try {
      const zone = {
        'example.test': { MX: [{ exchange: 'busy.example.test', priority: 10 }, { exchange: 'good.example.test', priority: 20 }] },
        'busy.example.test': { A: ['127.0.0.4'] },
        'good.example.test': { A: ['127.0.0.1'] },
      };
      await withConnector({ port: good?.port }, zone, async ({ connector, logs }) => {
        const outcomes = only(await connector.deliver({ connector: 'outbound', destination: 'example.test' }, [item(['b@example.test'])]));
        assert.equal(outcomes[0]?.outcome, 'delivered');
        assert.equal(busy.connections, 1);
        assert.equal(good?.transactions.length, 1);
        assert.match(String(logs.find((l) => l.event === 'outbound.host.failed')?.fields.reply), /^451 4\.4\.1 busy\.example\.test\[127\.0\.0\.4\]:\d+ refused the session: 421 4\.3\.2 too busy/);
      });
    } finally {
      await busy.close();
    }
  });
});

test('every host refusing connections defers every recipient with hopDown', async () => {
  const port = await closedPort('127.0.0.1');
  const zone = {
    'example.test': { MX: [{ exchange: 'mx1.example.test', priority: 10 }, { exchange: 'mx2.example.test', priority: 20 }] },
    'mx1.example.test': { A: ['127.0.0.2'] },
    'mx2.example.test': { A: ['127.0.0.1'] },
  };
  await withConnector({ port }, zone, async ({ connector }) => {
    const outcomes = await connector.deliver({ connector: 'outbound', destination: 'example.test' }, [item(['b@example.test', 'c@example.test']), item(['d@example.test'])]);
    const expected = { outcome: 'deferred', reply: `451 4.4.1 connection refused by mx2.example.test[127.0.0.1]:${port}`, hopDown: true };
    assert.deepEqual(outcomes, [
      [{ index: 10, ...expected }, { index: 11, ...expected }],
      [{ index: 10, ...expected }],
    ]);
  });
});

test('a domain without MX records gets its mail at its own address (implicit MX)', async () => {
  await withPeers([{}], async ([peer]) => {
    await withConnector({ port: peer?.port }, { 'implicit.test': { A: ['127.0.0.1'] } }, async ({ connector }) => {
      const outcomes = only(await connector.deliver({ connector: 'outbound', destination: 'implicit.test' }, [item(['b@implicit.test'])]));
      assert.deepEqual([outcomes[0]?.outcome, outcomes[0]?.remoteMta], ['delivered', 'implicit.test']);
      assert.equal(peer?.transactions.length, 1);
    });
  });
});

test('a null MX fails every recipient with 556 5.1.10, a missing domain with 550 5.1.2', async () => {
  await withConnector({}, { 'nullmx.test': { MX: [{ exchange: '.', priority: 0 }] } }, async ({ connector }) => {
    const nullMx = only(await connector.deliver({ connector: 'outbound', destination: 'nullmx.test' }, [item(['b@nullmx.test', 'c@nullmx.test'])]));
    assert.deepEqual(nullMx, [
      { index: 10, outcome: 'failed', reply: '556 5.1.10 domain nullmx.test accepts no mail (null MX)' },
      { index: 11, outcome: 'failed', reply: '556 5.1.10 domain nullmx.test accepts no mail (null MX)' },
    ]);
    const missing = only(await connector.deliver({ connector: 'outbound', destination: 'nowhere.test' }, [item(['b@nowhere.test'])]));
    assert.equal(missing[0]?.outcome, 'failed');
    assert.match(missing[0]?.outcome === 'failed' ? missing[0].reply : '', /^550 5\.1\.2 domain nowhere\.test does not exist/);
  });
});

test('a DNS server that does not answer defers with 451 4.4.3 and hopDown', async () => {
  await withConnector({}, { 'slow.test': { silent: true } }, async ({ connector }) => {
    const outcomes = only(await connector.deliver({ connector: 'outbound', destination: 'slow.test' }, [item(['b@slow.test'])]));
    assert.equal(outcomes[0]?.outcome, 'deferred');
    assert.ok(outcomes[0]?.outcome === 'deferred' && outcomes[0].hopDown === true);
    assert.match(outcomes[0]?.outcome === 'deferred' ? outcomes[0].reply : '', /^451 4\.4\.3 MX lookup for slow\.test failed/);
  });
});

test('one transaction, mixed recipients: each keeps its own reply (250, 450, 550)', async () => {
  const rcpt = { 'soft@example.test': '450 4.2.1 mailbox busy, try later', 'gone@example.test': '550 5.1.1 no such user here' };
  await withPeers([{ rcpt }], async ([peer]) => {
    await withConnector({}, {}, async ({ connector }) => {
      const outcomes = only(await connector.deliver({ connector: 'outbound', destination: `[127.0.0.1]:${peer?.port}` }, [item(['ok@example.test', 'soft@example.test', 'gone@example.test'])]));
      assert.equal(outcomes[0]?.outcome, 'delivered');
      assert.deepEqual(outcomes.slice(1), [
        { index: 11, outcome: 'deferred', reply: '450 4.2.1 mailbox busy, try later', remoteMta: '127.0.0.1' },
        { index: 12, outcome: 'failed', reply: '550 5.1.1 no such user here', remoteMta: '127.0.0.1' },
      ]);
      assert.equal(peer?.transactions.length, 1);
      assert.deepEqual(peer?.transactions[0]?.to, ['ok@example.test']);
    });
  });
});

test('a reply without an enhanced status code gets one made up from its class', async () => {
  const rcpt = { 'soft@example.test': '451 try again later', 'gone@example.test': '554 go away' };
  await withPeers([{ rcpt }], async ([peer]) => {
    await withConnector({}, {}, async ({ connector }) => {
      const outcomes = only(await connector.deliver({ connector: 'outbound', destination: `[127.0.0.1]:${peer?.port}` }, [item(['soft@example.test', 'gone@example.test'])]));
      assert.deepEqual(outcomes, [
        { index: 10, outcome: 'deferred', reply: '451 4.0.0 try again later', remoteMta: '127.0.0.1' },
        { index: 11, outcome: 'failed', reply: '554 5.0.0 go away', remoteMta: '127.0.0.1' },
      ]);
      assert.equal(peer?.transactions.length, 0);
    });
  });
});

test('a 5xx after DATA fails the accepted recipients; those refused at RCPT keep their reply', async () => {
  await withPeers([{ rcpt: { 'soft@example.test': '452 4.2.2 over quota' }, data: '554 5.7.1 message refused as spam' }], async ([peer]) => {
    await withConnector({}, {}, async ({ connector }) => {
      const outcomes = only(await connector.deliver({ connector: 'outbound', destination: `[127.0.0.1]:${peer?.port}` }, [item(['a@example.test', 'soft@example.test', 'b@example.test'])]));
      assert.deepEqual(outcomes, [
        { index: 10, outcome: 'failed', reply: '554 5.7.1 message refused as spam', remoteMta: '127.0.0.1' },
        { index: 11, outcome: 'deferred', reply: '452 4.2.2 over quota', remoteMta: '127.0.0.1' },
        { index: 12, outcome: 'failed', reply: '554 5.7.1 message refused as spam', remoteMta: '127.0.0.1' },
      ]);
    });
  });
});

test('a 4xx after DATA defers every accepted recipient without marking the hop down', async () => {
  await withPeers([{ data: '451 4.3.0 queue full' }], async ([peer]) => {
    await withConnector({}, {}, async ({ connector }) => {
      const outcomes = only(await connector.deliver({ connector: 'outbound', destination: `[127.0.0.1]:${peer?.port}` }, [item(['a@example.test', 'b@example.test'])]));
      assert.deepEqual(outcomes, [
        { index: 10, outcome: 'deferred', reply: '451 4.3.0 queue full', remoteMta: '127.0.0.1' },
        { index: 11, outcome: 'deferred', reply: '451 4.3.0 queue full', remoteMta: '127.0.0.1' },
      ]);
    });
  });
});

test('a refused MAIL FROM applies to every recipient', async () => {
  await withPeers([{ mail: '550 5.7.1 sender blocked' }], async ([peer]) => {
    await withConnector({}, {}, async ({ connector }) => {
      const outcomes = only(await connector.deliver({ connector: 'outbound', destination: `[127.0.0.1]:${peer?.port}` }, [item(['a@example.test', 'b@example.test'])]));
      assert.deepEqual(outcomes.map((o) => [o.outcome, o.outcome === 'delivered' ? '' : o.reply]), [
        ['failed', '550 5.7.1 sender blocked'],
        ['failed', '550 5.7.1 sender blocked'],
      ]);
    });
  });
});

test('the null sender goes out as MAIL FROM:<>', async () => {
  await withPeers([{}], async ([peer]) => {
    await withConnector({}, {}, async ({ connector }) => {
      const outcomes = only(await connector.deliver({ connector: 'outbound', destination: `[127.0.0.1]:${peer?.port}` }, [item(['b@example.test'], { sender: '' })]));
      assert.equal(outcomes[0]?.outcome, 'delivered');
      assert.equal(peer?.transactions[0]?.from, '');
    });
  });
});

test('smart hosts take all mail, with no MX lookup, and AUTH when configured', async () => {
  await withPeers([{ auth: { user: 'relay-user', pass: 'relay-secret' } }], async ([peer]) => {
    const config = { smartHosts: [`127.0.0.1:${peer?.port}`], auth: { user: 'relay-user', pass: 'relay-secret' } };
    await withConnector(config, { 'example.test': { MX: [{ exchange: 'mx.example.test', priority: 10 }] } }, async ({ connector, dns }) => {
      const outcomes = only(await connector.deliver({ connector: 'outbound', destination: 'example.test' }, [item(['b@example.test'])]));
      assert.equal(outcomes[0]?.outcome, 'delivered');
      assert.equal(outcomes[0]?.remoteMta, '127.0.0.1');
      assert.equal(peer?.transactions[0]?.user, 'relay-user');
      assert.deepEqual(dns.queries, [], 'no DNS query for a smart host given as an address');
    });
  });
});

test('a smart host with wrong credentials defers with 4.7.8 and hopDown', async () => {
  await withPeers([{ auth: { user: 'relay-user', pass: 'relay-secret' } }], async ([peer]) => {
    await withConnector({ smartHosts: [`127.0.0.1:${peer?.port}`], auth: { user: 'relay-user', pass: 'wrong' } }, {}, async ({ connector }) => {
      const outcomes = only(await connector.deliver({ connector: 'outbound', destination: 'example.test' }, [item(['b@example.test'])]));
      assert.equal(outcomes[0]?.outcome, 'deferred');
      assert.ok(outcomes[0]?.outcome === 'deferred' && outcomes[0].hopDown);
      assert.match(outcomes[0]?.outcome === 'deferred' ? outcomes[0].reply : '', /^451 4\.7\.8 authentication at \[127\.0\.0\.1\]:\d+ failed: 535 5\.7\.8 authentication failed/);
      assert.equal(peer?.transactions.length, 0);
    });
  });
});

test('TLS required but not offered: deferred with hopDown, nothing sent in the clear', async () => {
  await withPeers([{}], async ([peer]) => {
    await withConnector({ tls: 'required' }, {}, async ({ connector }) => {
      const outcomes = only(await connector.deliver({ connector: 'outbound', destination: `[127.0.0.1]:${peer?.port}` }, [item(['b@example.test'])]));
      assert.equal(outcomes[0]?.outcome, 'deferred');
      assert.ok(outcomes[0]?.outcome === 'deferred' && outcomes[0].hopDown);
      assert.match(outcomes[0]?.outcome === 'deferred' ? outcomes[0].reply : '', /^451 4\.7\.5 TLS with \[127\.0\.0\.1\]:\d+ failed/);
      assert.equal(peer?.transactions.length, 0);
    });
  });
});

test('TLS opportunistic: a self-signed peer gets the message over STARTTLS', async () => {
  await withPeers([{ starttls: true }], async ([peer]) => {
    await withConnector({ tls: 'opportunistic' }, {}, async ({ connector }) => {
      const outcomes = only(await connector.deliver({ connector: 'outbound', destination: `[127.0.0.1]:${peer?.port}` }, [item(['b@example.test'])]));
      assert.equal(outcomes[0]?.outcome, 'delivered');
      assert.equal(peer?.transactions[0]?.secure, true);
    });
  });
});

test('TLS required checks the certificate unless tlsVerify is false; none never starts TLS', async () => {
  await withPeers([{ starttls: true }], async ([peer]) => {
    const destination = `[127.0.0.1]:${peer?.port}`;
    await withConnector({ tls: 'required' }, {}, async ({ connector }) => {
      const outcomes = only(await connector.deliver({ connector: 'outbound', destination }, [item(['b@example.test'])]));
      assert.ok(outcomes[0]?.outcome === 'deferred' && outcomes[0].hopDown && /^451 4\.7\.5 /.test(outcomes[0].reply), JSON.stringify(outcomes));
    });
    await withConnector({ tls: 'required', tlsVerify: false }, {}, async ({ connector }) => {
      assert.equal(only(await connector.deliver({ connector: 'outbound', destination }, [item(['b@example.test'])]))[0]?.outcome, 'delivered');
    });
    await withConnector({ tls: 'none' }, {}, async ({ connector }) => {
      assert.equal(only(await connector.deliver({ connector: 'outbound', destination }, [item(['c@example.test'])]))[0]?.outcome, 'delivered');
    });
    assert.deepEqual(peer?.transactions.map((t) => [t.to[0], t.secure]), [['b@example.test', true], ['c@example.test', false]]);
  });
});

test('a second delivery to the same host reuses the pooled connection', async () => {
  await withPeers([{}], async ([peer]) => {
    await withConnector({}, {}, async ({ connector }) => {
      const hop = { connector: 'outbound', destination: `[127.0.0.1]:${peer?.port}` };
      assert.equal(only(await connector.deliver(hop, [item(['a@example.test'])]))[0]?.outcome, 'delivered');
      assert.equal(only(await connector.deliver(hop, [item(['b@example.test'])]))[0]?.outcome, 'delivered');
      assert.equal(peer?.transactions.length, 2);
      assert.equal(peer?.connections, 1);
      assert.equal(new Set(peer?.transactions.map((t) => t.session)).size, 1);
    });
  });
});

test('close() ends the pooled connections and later deliveries are deferred', async () => {
  await withPeers([{}], async ([peer]) => {
    await withConnector({}, {}, async ({ connector }) => {
      const hop = { connector: 'outbound', destination: `[127.0.0.1]:${peer?.port}` };
      assert.equal(only(await connector.deliver(hop, [item(['a@example.test'])]))[0]?.outcome, 'delivered');
      assert.equal(peer?.closed, 0, 'the connection stays open in the pool');
      await connector.close();
      await until(() => peer?.closed === 1, 'the peer saw the connection end');
      const after = only(await connector.deliver(hop, [item(['b@example.test'])]));
      assert.deepEqual(after, [{ index: 10, outcome: 'deferred', reply: '451 4.3.2 the SMTP connector is shutting down' }]);
      assert.equal(peer?.connections, 1);
    });
  });
});

test('the pool of a host unused for poolIdleMs is closed at the next delivery', async () => {
  await withPeers([{}, {}], async ([first, second]) => {
    let now = 0;
    await withConnector(
      {},
      {},
      async ({ connector }) => {
        assert.equal(only(await connector.deliver({ connector: 'outbound', destination: `[127.0.0.1]:${first?.port}` }, [item(['a@example.test'])]))[0]?.outcome, 'delivered');
        now += 30_000;
        assert.equal(only(await connector.deliver({ connector: 'outbound', destination: `[127.0.0.1]:${second?.port}` }, [item(['b@example.test'])]))[0]?.outcome, 'delivered');
        assert.equal(first?.closed, 0, 'still within poolIdleMs');
        now += 45_000;
        assert.equal(only(await connector.deliver({ connector: 'outbound', destination: `[127.0.0.1]:${second?.port}` }, [item(['c@example.test'])]))[0]?.outcome, 'delivered');
        await until(() => first?.closed === 1, 'the idle pool was closed');
        assert.equal(second?.closed, 0);
        assert.equal(second?.connections, 1);
      },
      () => now,
    );
  });
});

test('SMTPUTF8 mail to a host without SMTPUTF8 fails with 550 5.6.7 and is not sent', async () => {
  await withPeers([{ smtputf8: false }], async ([peer]) => {
    await withConnector({}, {}, async ({ connector }) => {
      const outcomes = only(await connector.deliver({ connector: 'outbound', destination: `[127.0.0.1]:${peer?.port}` }, [item(['b@example.test', 'c@example.test'], { smtputf8: true })]));
      const reply = `550 5.6.7 [127.0.0.1]:${peer?.port} does not support SMTPUTF8, which this message needs`;
      assert.deepEqual(outcomes, [
        { index: 10, outcome: 'failed', reply, remoteMta: '127.0.0.1' },
        { index: 11, outcome: 'failed', reply, remoteMta: '127.0.0.1' },
      ]);
      // A UTF-8 address needs SMTPUTF8 even when the envelope was not flagged.
      const unflagged = only(await connector.deliver({ connector: 'outbound', destination: `[127.0.0.1]:${peer?.port}` }, [item(['jörg@example.test'])]));
      assert.deepEqual(unflagged, [{ index: 10, outcome: 'failed', reply, remoteMta: '127.0.0.1' }]);
      assert.equal(peer?.transactions.length, 0);
    });
  });
});

test('SMTPUTF8 mail with a UTF-8 address goes to a host that has SMTPUTF8, announced in MAIL FROM', async () => {
  await withPeers([{}], async ([peer]) => {
    await withConnector({}, {}, async ({ connector }) => {
      const hop = { connector: 'outbound', destination: `[127.0.0.1]:${peer?.port}` };
      const outcomes = only(await connector.deliver(hop, [item(['jörg@example.test'], { smtputf8: true, sender: 'åsa@sender.test', bodyType: '8BITMIME' })]));
      assert.equal(outcomes[0]?.outcome, 'delivered', JSON.stringify(outcomes));
      assert.deepEqual(peer?.transactions[0]?.to, ['jörg@example.test']);
      assert.equal(peer?.transactions[0]?.from, 'åsa@sender.test');
      assert.equal(peer?.transactions[0]?.mailArgs.SMTPUTF8, true);
      assert.equal(peer?.transactions[0]?.mailArgs.BODY, '8BITMIME');
    });
  });
});

test('DSN parameters pass through: RET and ENVID per message, one transaction per NOTIFY value', async () => {
  await withPeers([{}], async ([peer]) => {
    await withConnector({}, {}, async ({ connector }) => {
      const notify = { 'a@example.test': 'NEVER' as const, 'b@example.test': ['FAILURE', 'DELAY'] as ('FAILURE' | 'DELAY')[] };
      const outcomes = only(await connector.deliver({ connector: 'outbound', destination: `[127.0.0.1]:${peer?.port}` }, [item(['a@example.test', 'b@example.test', 'c@example.test'], { notify, ret: 'HDRS', envid: 'env-1' })]));
      assert.deepEqual(outcomes.map((o) => [o.index, o.outcome]), [[10, 'delivered'], [11, 'delivered'], [12, 'delivered']]);
      const byRecipient = new Map(peer?.transactions.flatMap((t) => t.to.map((to) => [to, t])));
      assert.equal(peer?.transactions.length, 3);
      assert.deepEqual(byRecipient.get('a@example.test')?.notify, { 'a@example.test': ['NEVER'] });
      assert.deepEqual(byRecipient.get('b@example.test')?.notify, { 'b@example.test': ['FAILURE', 'DELAY'] });
      assert.deepEqual(byRecipient.get('c@example.test')?.notify, {});
      for (const t of peer?.transactions ?? []) assert.deepEqual(t.dsn, { ret: 'HDRS', envid: 'env-1' });
    });
  });
});

/** What must be on the wire for a message: CRLF line ends only, dot-stuffed, ending in CRLF, then `.` CRLF. */
function expectedWire(message: Buffer): Buffer {
  const text = message.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n');
  const lines = text.split('\r\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return Buffer.from(`${lines.map((line) => (line.startsWith('.') ? `.${line}` : line)).join('\r\n')}\r\n.\r\n`, 'latin1');
}

test('on the wire: CRLF only, never a bare CR or LF, and leading dots stuffed', async () => {
  const raw = await startRawSmtpPeer();
  try {
    const messages = [
      Buffer.from('Subject: dots\r\n\r\n.one\r\n..two\r\n.\r\nend\r\n'),
      Buffer.from('Subject: bare LF\n\nline one\nline two\n.dot after LF\n'),
      Buffer.from('Subject: bare CR\r\rline\rx\r.dot after CR\r\nlast'),
      Buffer.from('Subject: mixed\r\n\r\na\n\rb\r\r\n\n.\n'),
      Buffer.from('Subject: 8bit\r\n\r\n\xe4\xf6\xfc and no final newline', 'latin1'),
    ];
    await withConnector({}, {}, async ({ connector }) => {
      for (const message of messages) {
        const outcomes = only(await connector.deliver({ connector: 'outbound', destination: `[127.0.0.1]:${raw.port}` }, [item(['b@example.test'], { message })]));
        assert.equal(outcomes[0]?.outcome, 'delivered');
      }
    });
    assert.equal(raw.data.length, messages.length);
    raw.data.forEach((wire, i) => {
      const message = messages[i] ?? Buffer.alloc(0);
      assert.deepEqual(wire.toString('latin1'), expectedWire(message).toString('latin1'), `message ${i}`);
      for (let at = 0; at < wire.length; at++) {
        if (wire[at] === 0x0d) assert.equal(wire[at + 1], 0x0a, `message ${i}: bare CR at ${at}`);
        if (wire[at] === 0x0a) assert.equal(wire[at - 1], 0x0d, `message ${i}: bare LF at ${at}`);
      }
    });
    assert.equal(raw.commands.filter((c) => c === 'MAIL FROM:<a@sender.test>').length, messages.length);
    assert.equal(raw.commands[0], 'EHLO sluice.test');
    for (const command of raw.commands) assert.ok(!/[\r\n]/.test(command), `no bare CR/LF in ${JSON.stringify(command)}`);
  } finally {
    await raw.close();
  }
});
