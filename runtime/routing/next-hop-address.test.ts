// parseNextHop: which destinations are looked up as MX and which name a host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNextHop } from './next-hop-address.ts';

test('a bare name is a domain for a next hop and a host for a smart host', () => {
  assert.deepEqual(parseNextHop('Example.COM.', 'domain'), { kind: 'domain', name: 'example.com' });
  assert.deepEqual(parseNextHop('relay.example.com', 'host'), { kind: 'host', name: 'relay.example.com' });
});

test('address literals, bare IPv4 and host:port skip the MX lookup', () => {
  assert.deepEqual(parseNextHop('[192.0.2.1]', 'domain'), { kind: 'address', address: '192.0.2.1' });
  assert.deepEqual(parseNextHop('[IPv6:2001:db8::1]:2525', 'domain'), { kind: 'address', address: '2001:db8::1', port: 2525 });
  assert.deepEqual(parseNextHop('[::1]:25', 'domain'), { kind: 'address', address: '::1', port: 25 });
  assert.deepEqual(parseNextHop('192.0.2.7:587', 'host'), { kind: 'address', address: '192.0.2.7', port: 587 });
  assert.deepEqual(parseNextHop('mx.example.com:2525', 'domain'), { kind: 'host', name: 'mx.example.com', port: 2525 });
});

test('an internationalized name becomes its A-labels', () => {
  assert.deepEqual(parseNextHop('bücher.example', 'domain'), { kind: 'domain', name: 'xn--bcher-kva.example' });
});

test('bad destinations are errors that say what is wrong', () => {
  assert.match(String(parseNextHop('[192.0.2.999]', 'domain')), /"192\.0\.2\.999" is not an IP address/);
  assert.match(String(parseNextHop('mx.example.com:0', 'domain')), /port "0" is not a number from 1 to 65535/);
  assert.match(String(parseNextHop('mx.example.com:http', 'domain')), /port "http"/);
  assert.match(String(parseNextHop('-bad-.example', 'domain')), /"-bad-\.example" is not a domain name/);
  assert.match(String(parseNextHop('', 'domain')), /is not a domain name/);
});
