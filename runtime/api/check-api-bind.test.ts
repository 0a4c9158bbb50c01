import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkApiBind, isLoopbackHost } from './check-api-bind.ts';
import { parseConfig } from '../config/load-config.ts';

test('loopback addresses may serve plain HTTP', () => {
  for (const listen of ['127.0.0.1:8025', '127.1.2.3:0', '[::1]:8025', 'localhost:8025']) {
    assert.equal(checkApiBind({ listen, allowInsecureRemote: false, tls: undefined }), null, listen);
  }
  assert.equal(isLoopbackHost('::ffff:127.0.0.1'), true);
  assert.equal(isLoopbackHost('128.0.0.1'), false);
});

test('a non-loopback address is refused without TLS, naming api.listen and the two ways out', () => {
  for (const listen of ['0.0.0.0:8025', '192.0.2.10:8025', '[::]:8025', 'mx.example.com:8025']) {
    const error = checkApiBind({ listen, allowInsecureRemote: false, tls: undefined });
    assert.ok(error !== null, listen);
    assert.match(error, /^api\.listen: /);
    assert.match(error, /api\.tls/);
    assert.match(error, /api\.allowInsecureRemote/);
  }
});

test('a non-loopback address is allowed with api.tls or api.allowInsecureRemote', () => {
  assert.equal(checkApiBind({ listen: '0.0.0.0:8025', allowInsecureRemote: false, tls: { cert: 'c.pem', key: 'k.pem' } }), null);
  assert.equal(checkApiBind({ listen: '0.0.0.0:8025', allowInsecureRemote: true, tls: undefined }), null);
});

test('the config file carries the api bind fields with their defaults', () => {
  const config = parseConfig({ api: { listen: '0.0.0.0:8025' } }, 'test');
  assert.equal(config.api.allowInsecureRemote, false);
  assert.equal(config.api.maxBundleBytes, 16 * 1024 * 1024);
  assert.match(checkApiBind(config.api) ?? '', /^api\.listen: 0\.0\.0\.0:8025 is not a loopback address/);
  assert.throws(() => parseConfig({ api: { maxBundleBytes: 'big' } }, 'test'), /api\.maxBundleBytes/);
});
