import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseConfig } from './load-config.ts';

function issuesOf(input: unknown): string[] {
  try {
    parseConfig(input, 'test.json');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues;
  }
  assert.fail('expected a ConfigError');
}

test('the embedded defaults make a complete configuration', () => {
  const c = parseConfig({}, 'defaults');
  assert.equal(c.smtp.listen, '127.0.0.1:2525');
  assert.equal(c.api.listen, '127.0.0.1:8025');
  assert.equal(c.dataDir, './sluice-data');
  assert.deepEqual(c.domains, ['localhost']);
  assert.equal(c.smtp.limits.commandLineOctets, 512);
  assert.equal(c.smtp.limits.textLineOctets, 1000);
  assert.equal(c.smtp.limits.messageSize, 25 * 1024 * 1024);
  assert.equal(c.smtp.limits.recipients, 100);
  assert.deepEqual(c.smtp.relayNetworks, [], 'not an open relay by default');
  assert.equal(c.smtp.auth.allowPlaintext, false);
});

test('a wrong field is named with what was expected and what was found', () => {
  assert.deepEqual(issuesOf({ smtp: { listen: 'nope' } }), ['smtp.listen: expected HOST:PORT, e.g. 127.0.0.1:2525 (got "nope")']);
  assert.deepEqual(issuesOf({ smtp: { listen: '127.0.0.1:70000' } }), ['smtp.listen: expected a port number up to 65535 (got "127.0.0.1:70000")']);
  assert.deepEqual(issuesOf({ smtp: { limits: { messageSize: -1 } } }), ['smtp.limits.messageSize: Invalid value: Expected >=1 but received -1']);
  assert.deepEqual(issuesOf({ smtp: { limitz: {} } }), ['smtp.limitz: unknown field']);
  assert.deepEqual(issuesOf({ domains: ['bad domain'] }), ['domains.0: expected a domain name (got "bad domain")']);
  assert.deepEqual(issuesOf({ smtp: { relayNetworks: ['10.0.0.0/99'] } }), ['smtp.relayNetworks.0: expected an address or CIDR network (got "10.0.0.0/99")']);
  assert.deepEqual(issuesOf({ smtp: { auth: { users: [{ name: 'a', password: 'plain' }] } } }), [
    'smtp.auth.users.0.password: expected a hash from `sluice hash-password` (got "plain")',
  ]);
  assert.deepEqual(issuesOf({ smtp: { limits: { recipients: 10 } } }), ['smtp.limits.recipients: Invalid value: Expected >=100 but received 10']);
});

test('every issue is reported at once', () => {
  assert.equal(issuesOf({ hostname: 'a b', log: { format: 'xml' }, extra: true }).length, 3);
});

test('command-line overrides win over the file and SLUICE_DATA fills in the data dir', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-config-'));
  try {
    const file = join(dir, 'sluice.json');
    await writeFile(file, JSON.stringify({ domains: ['example.com'], smtp: { listen: '0.0.0.0:25', greetingDelayMs: 100 } }));
    const c = await loadConfig(file, { smtp: '127.0.0.1:2626', domains: ['example.net'] }, { SLUICE_DATA: '/var/sluice' });
    assert.equal(c.smtp.listen, '127.0.0.1:2626');
    assert.equal(c.smtp.greetingDelayMs, 100, 'the rest of the section is kept');
    assert.deepEqual(c.domains, ['example.net']);
    assert.equal(c.dataDir, '/var/sluice');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an unreadable or non-JSON file is a ConfigError naming the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-config-'));
  try {
    const file = join(dir, 'broken.json');
    await writeFile(file, '{ "smtp": ');
    await assert.rejects(loadConfig(file, {}, {}), (err: unknown) => err instanceof ConfigError && err.message.includes(file) && err.issues[0]!.startsWith('not valid JSON'));
    await assert.rejects(loadConfig(join(dir, 'missing.json'), {}, {}), (err: unknown) => err instanceof ConfigError && err.issues[0]!.startsWith('cannot read'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
