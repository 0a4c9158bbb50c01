// MxResolver against a real authoritative DNS server on 127.0.0.1 (UDP), through node:dns on each runtime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MxResolver, type MxResolution } from './mx-resolver.ts';
import { startDnsTestServer, type DnsTestServer, type ZoneRecords } from '../testing/dns-test-server.ts';

const ZONE: Record<string, ZoneRecords> = {
  'example.test': {
    MX: [
      { exchange: 'mx2.example.test', priority: 20 },
      { exchange: 'mx1.example.test', priority: 10 },
      { exchange: 'mx3.example.test', priority: 20 },
    ],
  },
  'mx1.example.test': { A: ['192.0.2.1'], AAAA: ['2001:db8::1'] },
  'mx2.example.test': { A: ['192.0.2.2'] },
  'mx3.example.test': { A: ['192.0.2.3'] },
  'odd.test': {
    MX: [
      { exchange: '192.0.2.9', priority: 5 },
      { exchange: 'ghost.odd.test', priority: 10 },
      { exchange: 'empty.odd.test', priority: 15 },
      { exchange: 'real.odd.test', priority: 20 },
    ],
  },
  'empty.odd.test': {},
  'real.odd.test': { A: ['192.0.2.20'] },
  'implicit.test': { A: ['192.0.2.30'], AAAA: ['2001:db8::30'] },
  'nullmx.test': { MX: [{ exchange: '.', priority: 0 }] },
  'nothing.test': {},
  'dangling.test': { MX: [{ exchange: 'gone.dangling.test', priority: 10 }] },
  'slow.test': { silent: true },
  'broken.test': { servfail: true },
  'relay.test': { A: ['192.0.2.40'], MX: [{ exchange: 'mx1.example.test', priority: 1 }] },
  'xn--bcher-kva.test': { A: ['192.0.2.50'] },
};

async function withDns(run: (dns: DnsTestServer) => Promise<void>): Promise<void> {
  const dns = await startDnsTestServer(ZONE);
  try {
    await run(dns);
  } finally {
    await dns.close();
  }
}

function resolver(dns: DnsTestServer, extra: ConstructorParameters<typeof MxResolver>[0] = {}): MxResolver {
  return new MxResolver({ servers: [dns.server], timeoutMs: 400, cacheMs: 0, ...extra });
}

function hosts(result: MxResolution): string[] {
  assert.ok(result.ok, `expected hosts, got ${JSON.stringify(result)}`);
  return result.hosts.map((h) => `${h.preference} ${h.host} ${h.address}:${h.port}`);
}

test('MX hosts come by preference, each with its A then AAAA addresses, on the given port', async () => {
  await withDns(async (dns) => {
    const result = await resolver(dns, { random: () => 0 }).resolve('example.test', 2525);
    const list = hosts(result);
    assert.deepEqual(list.slice(0, 2), ['10 mx1.example.test 192.0.2.1:2525', '10 mx1.example.test 2001:db8::1:2525']);
    assert.deepEqual(new Set(list.slice(2)), new Set(['20 mx2.example.test 192.0.2.2:2525', '20 mx3.example.test 192.0.2.3:2525']));
  });
});

test('MX hosts of equal preference are shuffled, the lower preference stays first', async () => {
  await withDns(async (dns) => {
    let n = 0;
    // Random keys in the order the hosts are listed: descending, then ascending.
    const descending = resolver(dns, { random: () => 1 - (n++ % 3) / 3 });
    const ascending = resolver(dns, { random: () => (n++ % 3) / 3 });
    const a = hosts(await descending.resolve('example.test'));
    n = 0;
    const b = hosts(await ascending.resolve('example.test'));
    assert.equal(a[0], '10 mx1.example.test 192.0.2.1:25');
    assert.equal(b[0], '10 mx1.example.test 192.0.2.1:25');
    assert.notDeepEqual(a.slice(2), b.slice(2), 'the two preference-20 hosts swap places with the random keys');
    assert.deepEqual(new Set(a.slice(2)), new Set(b.slice(2)));
  });
});

test('an MX naming an address literal or a name without addresses is skipped', async () => {
  await withDns(async (dns) => {
    assert.deepEqual(hosts(await resolver(dns).resolve('odd.test')), ['20 real.odd.test 192.0.2.20:25']);
  });
});

test('a domain without MX records is its own mail host (implicit MX)', async () => {
  await withDns(async (dns) => {
    assert.deepEqual(hosts(await resolver(dns).resolve('implicit.test')), ['0 implicit.test 192.0.2.30:25', '0 implicit.test 2001:db8::30:25']);
  });
});

test('a domain that does not exist fails permanently with 5.1.2', async () => {
  await withDns(async (dns) => {
    const result = await resolver(dns).resolve('nowhere.test');
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.permanent);
    assert.match(!result.ok ? result.reply : '', /^550 5\.1\.2 .*nowhere\.test/);
  });
});

test('a null MX (RFC 7505) fails permanently with 556 5.1.10', async () => {
  await withDns(async (dns) => {
    const result = await resolver(dns).resolve('nullmx.test');
    assert.deepEqual(result, { ok: false, permanent: true, reply: '556 5.1.10 domain nullmx.test accepts no mail (null MX)' });
  });
});

test('a domain with neither MX nor address records fails permanently', async () => {
  await withDns(async (dns) => {
    const result = await resolver(dns).resolve('nothing.test');
    assert.ok(!result.ok && result.permanent, JSON.stringify(result));
    assert.match(result.reply, /^550 5\.4\.4 .*nothing\.test has no MX or address records/);
  });
});

test('a DNS server that never answers is a temporary 451 4.4.3, within a bounded time', async () => {
  await withDns(async (dns) => {
    const started = Date.now();
    const result = await resolver(dns, { timeoutMs: 300 }).resolve('slow.test');
    assert.ok(!result.ok && !result.permanent, JSON.stringify(result));
    assert.match(result.reply, /^451 4\.4\.3 /);
    assert.ok(Date.now() - started < 10_000, 'did not wait for a system default timeout');
  });
});

test('SERVFAIL is a temporary 451 4.4.3, never a bounce', async () => {
  await withDns(async (dns) => {
    const result = await resolver(dns).resolve('broken.test');
    assert.ok(!result.ok && !result.permanent, JSON.stringify(result));
    assert.match(result.reply, /^451 4\.4\.3 .*broken\.test/);
  });
});

test('MX hosts that all lack addresses are a temporary failure', async () => {
  await withDns(async (dns) => {
    const result = await resolver(dns).resolve('dangling.test');
    assert.deepEqual(result, { ok: false, permanent: false, reply: '451 4.4.3 no MX host of dangling.test has an address' });
  });
});

test('an address literal or host:port destination skips the MX lookup', async () => {
  await withDns(async (dns) => {
    const r = resolver(dns);
    assert.deepEqual(hosts(await r.resolve('[127.0.0.1]:2525')), ['0 127.0.0.1 127.0.0.1:2525']);
    assert.deepEqual(hosts(await r.resolve('[IPv6:::1]')), ['0 ::1 ::1:25']);
    assert.deepEqual(hosts(await r.resolve('relay.test:2526')), ['0 relay.test 192.0.2.40:2526']);
    assert.ok(!dns.queries.some((q) => q.startsWith('MX')), `no MX query: ${dns.queries.join(', ')}`);
    assert.deepEqual(hosts(await r.resolve('relay.test')), ['1 mx1.example.test 192.0.2.1:25', '1 mx1.example.test 2001:db8::1:25']);
  });
});

test('resolveHost treats a bare name as a host (a smart host): its addresses, no MX', async () => {
  await withDns(async (dns) => {
    const r = resolver(dns);
    assert.deepEqual(hosts(await r.resolveHost('relay.test', 587)), ['0 relay.test 192.0.2.40:587']);
    assert.deepEqual(dns.queries.filter((q) => q.startsWith('MX')), []);
    const missing = await r.resolveHost('nowhere.test');
    assert.ok(!missing.ok && !missing.permanent && /^451 4\.4\.3 host nowhere\.test has no address/.test(missing.reply), JSON.stringify(missing));
  });
});

test('an internationalized domain is looked up by its A-labels', async () => {
  await withDns(async (dns) => {
    assert.deepEqual(hosts(await resolver(dns).resolve('BÜCHER.test')), ['0 xn--bcher-kva.test 192.0.2.50:25']);
  });
});

test('a malformed destination is a permanent failure that says why', async () => {
  const r = new MxResolver({ servers: ['127.0.0.1:9'] });
  const result = await r.resolve('bad_domain..test');
  assert.ok(!result.ok && result.permanent);
  assert.match(result.reply, /^553 5\.1\.2 invalid next hop: "bad_domain\.\.test" is not a domain name/);
  const port = await r.resolve('relay.test:99999');
  assert.ok(!port.ok && /port "99999"/.test(port.reply));
});

// Bun's Resolver keeps answers in a cache of its own, so whether an expired entry is asked again
// cannot be seen from the server there; the cache is observed by stopping the server instead.
test('answers are cached for cacheMs, with equal preferences shuffled again on every use', async () => {
  const dns = await startDnsTestServer(ZONE);
  let n = 0;
  let up = true;
  // Keys in the order the MX hosts are listed: ascending on the first use, descending after.
  const r = new MxResolver({ servers: [dns.server], timeoutMs: 300, cacheMs: 60_000, random: () => (up ? n++ % 3 : 3 - (n++ % 3)) });
  const first = hosts(await r.resolve('example.test'));
  await dns.close();
  up = false;
  const again = hosts(await r.resolve('example.test'));
  assert.deepEqual(new Set(again), new Set(first), 'answered from the cache with the server gone');
  assert.equal(again[0], first[0]);
  assert.notDeepEqual(again.slice(2), first.slice(2), 'the preference-20 hosts were shuffled again');
});

test('a temporary failure is not cached', async () => {
  await withDns(async (dns) => {
    const r = resolver(dns, { cacheMs: 60_000 });
    const before = dns.queries.length;
    assert.ok(!(await r.resolve('slow.test')).ok);
    const once = dns.queries.length;
    assert.ok(once > before);
    assert.ok(!(await r.resolve('slow.test')).ok);
    assert.ok(dns.queries.length > once, 'the second resolve asked the server again');
  });
});

test('DNS servers that are not IP[:port] are refused with an error naming routing.dnsServers', () => {
  assert.throws(() => new MxResolver({ servers: ['dns.example.com'] }), /routing\.dnsServers/);
});
