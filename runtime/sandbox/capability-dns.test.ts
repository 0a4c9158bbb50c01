// ctx.dns on the host side, against a real UDP DNS server on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDnsServers, isDnsName, resolveDns, reverseName } from './capability-dns.ts';
import { startDnsTestServer } from '../testing/dns-test-server.ts';
import { CapabilityError } from './capability-error.ts';

const RECORDS = {
  'mx.test': { A: ['192.0.2.10', '192.0.2.11'], AAAA: ['2001:db8::10'], MX: [{ exchange: 'b.mx.test', priority: 20 }, { exchange: 'a.mx.test', priority: 10 }], TXT: [['v=spf1 -all'], ['hello']] },
  '10.2.0.192.in-addr.arpa': { PTR: ['host10.mx.test'] },
  [reverseName('2001:db8::10')]: { PTR: ['v6.mx.test'] },
  'slow.test': { silent: true },
};

function lookup<T extends 'A' | 'AAAA' | 'MX' | 'TXT' | 'PTR'>(server: string, name: string, type: T, timeoutMs = 2000) {
  return resolveDns(name, type, { servers: [server], timeoutMs, signal: new AbortController().signal });
}

// TXT records of several character strings are joined by resolveDns; Bun 1.4's Resolver returns each
// string as a record of its own, so that case is tested through the sandbox host (always Node).
test('resolves A, AAAA, MX (by priority), TXT and PTR (from an IP) from the given server', async () => {
  const dns = await startDnsTestServer(RECORDS);
  try {
    assert.deepEqual(await lookup(dns.server, 'mx.test', 'A'), ['192.0.2.10', '192.0.2.11']);
    assert.deepEqual(await lookup(dns.server, 'MX.test.', 'AAAA'), ['2001:db8::10']);
    assert.deepEqual(await lookup(dns.server, 'mx.test', 'MX'), [{ exchange: 'a.mx.test', priority: 10 }, { exchange: 'b.mx.test', priority: 20 }]);
    assert.deepEqual(await lookup(dns.server, 'mx.test', 'TXT'), ['v=spf1 -all', 'hello']);
    assert.deepEqual(await lookup(dns.server, '192.0.2.10', 'PTR'), ['host10.mx.test']);
    assert.deepEqual(await lookup(dns.server, '2001:db8::10', 'PTR'), ['v6.mx.test']);
    assert.ok(dns.queries.length >= 6);
  } finally {
    await dns.close();
  }
});

test('a name that does not exist, or has no record of the type, is an empty answer', async () => {
  const dns = await startDnsTestServer(RECORDS);
  try {
    assert.deepEqual(await lookup(dns.server, 'nowhere.test', 'A'), []);
    assert.deepEqual(await lookup(dns.server, '10.2.0.192.in-addr.arpa', 'A'), []);
  } finally {
    await dns.close();
  }
});

test('a server that never answers fails the lookup near its time limit', async () => {
  const dns = await startDnsTestServer(RECORDS);
  try {
    const started = performance.now();
    await assert.rejects(lookup(dns.server, 'slow.test', 'A', 300), (error: unknown) => error instanceof CapabilityError && /dns\.resolve: A slow\.test/.test(error.message));
    assert.ok(performance.now() - started < 300 + 3000, 'did not wait for the system default timeout');
  } finally {
    await dns.close();
  }
});

test('an abort signal cancels a lookup that is waiting', async () => {
  const dns = await startDnsTestServer(RECORDS);
  try {
    const controller = new AbortController();
    const pending = resolveDns('slow.test', 'A', { servers: [dns.server], timeoutMs: 10_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(pending, (error: unknown) => error instanceof CapabilityError && error.code === 'timeout');
  } finally {
    await dns.close();
  }
});

test('names that are not DNS names are refused before any query', async () => {
  for (const name of ['', 'a..b', 'has space.test', '-lead.test', 'x'.repeat(64) + '.test', `${'a.'.repeat(127)}ab`]) {
    assert.equal(isDnsName(name), false, name);
    await assert.rejects(lookup('127.0.0.1:9', name, 'A'), /is not a DNS name/);
  }
  assert.equal(isDnsName('_dmarc.example.com.'), true);
});

test('reverse names for IPv4, IPv6 and IPv4-mapped IPv6 addresses', () => {
  assert.equal(reverseName('192.0.2.1'), '1.2.0.192.in-addr.arpa');
  assert.equal(reverseName('2001:db8::1'), `1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.ip6.arpa`);
  assert.equal(reverseName('::ffff:192.0.2.1'), `1.0.2.0.0.0.0.c.f.f.f.f.${'0.'.repeat(20)}ip6.arpa`);
});

test('bad DNS servers in the grant are refused with the field named', () => {
  assert.throws(() => checkDnsServers(['not an ip']), /^Error: grants\.dnsServers: /);
  checkDnsServers(['127.0.0.1:5353', '::1']);
});
