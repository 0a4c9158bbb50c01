import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createPublicKey } from 'node:crypto';
import { createSignedBundle } from '../../sdk/bundle/build-bundle.ts';
import { draftManifest } from '../../sdk/bundle/bundle-test-kit.ts';
import { generateKeyPair } from '../../sdk/bundle/signing.ts';
import { startTestApi, type TestApi } from '../api/api-test-kit.ts';
import { agentSource } from '../testing/agent-kit.ts';
import { runAdminCommand } from './run-admin-command.ts';

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in-process against `api`, with `dataDir` as SLUICE_DATA (so the admin token is found by default). */
function cli(api: TestApi, env: Record<string, string | undefined> = {}) {
  return async (...argv: string[]): Promise<Run> => {
    let out = '';
    let err = '';
    const code = await runAdminCommand(argv, { SLUICE_API: api.url.replace('http://', ''), SLUICE_DATA: api.dataDir, ...env }, {
      stdout: (t) => (out += t),
      stderr: (t) => (err += t),
      cwd: api.dataDir,
    });
    return { code, out, err };
  };
}

async function withApi(fn: (api: TestApi, run: ReturnType<typeof cli>) => Promise<void>): Promise<void> {
  const api = await startTestApi();
  try {
    await fn(api, cli(api));
  } finally {
    await api.close();
  }
}

const HANDLERS = `onRcptTo(e) { if (e.recipient.startsWith('blocked')) return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'no' }; }`;

test('keys add (base64 file and PEM file), list as an aligned table and as JSON, revoke, remove', async () => {
  await withApi(async (api, run) => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    await writeFile(path.join(api.dataDir, 'acme.pub'), `${a.publicKey}\n`);
    const pem = createPublicKey(b.privateKey).export({ format: 'pem', type: 'spki' }).toString();
    await writeFile(path.join(api.dataDir, 'other.pem'), pem);

    const added = await run('keys', 'add', 'acme.pub', '--vendor', 'acme');
    assert.deepEqual(added, { code: 0, out: `trusted key ${a.keyId} for acme\n`, err: '' });
    assert.equal((await run('keys', 'add', 'other.pem', '--vendor', 'other', '--vendor', 'other-labs')).code, 0);
    await writeFile(path.join(api.dataDir, 'acme.key'), a.privateKey);
    const secret = await run('keys', 'add', 'acme.key', '--vendor', 'acme');
    assert.equal(secret.code, 2);
    assert.match(secret.err, /is a private key; give the vendor's public key/);
    const c = generateKeyPair();
    assert.equal((await run('keys', 'add', c.publicKey, '--vendor', 'third')).code, 0, 'a base64 key on the command line');

    const list = await run('keys', 'list');
    assert.equal(list.code, 0);
    const lines = list.out.trimEnd().split('\n');
    assert.match(lines[0]!, /^KEY ID {18}VENDORS {11}STATE {4}ADDED$/);
    assert.equal(lines.length, 4);
    const vendorsAt = lines[0]!.indexOf('VENDORS');
    for (const line of lines.slice(1)) assert.ok(/^\S/.test(line.slice(vendorsAt)) && line[vendorsAt - 1] === ' ', `aligned: ${line}`);
    assert.ok(list.out.includes('other,other-labs'));

    const json = await run('keys', 'list', '--json');
    assert.deepEqual(JSON.parse(json.out).keys.map((k: { keyId: string }) => k.keyId), [a.keyId, b.keyId, c.keyId]);

    assert.deepEqual(await run('keys', 'revoke', a.keyId), { code: 0, out: `revoked key ${a.keyId}\n`, err: '' });
    assert.match((await run('keys', 'list')).out, new RegExp(`${a.keyId}\\s+acme\\s+revoked`));
    assert.equal((await run('keys', 'remove', b.keyId)).code, 0);
    assert.equal(JSON.parse((await run('keys', 'list', '--json')).out).keys.length, 2);
  });
});

test('agents: install, list, enable with grants, show, priority, config (inline and @file), policy, stats, reset-breaker, disable, uninstall', async () => {
  await withApi(async (api, run) => {
    const vendor = generateKeyPair();
    assert.equal((await run('keys', 'add', vendor.publicKey, '--vendor', 'acme')).code, 0);
    const manifest = draftManifest({ configSchema: { type: 'object', properties: { maxRecipients: { type: 'integer' } }, additionalProperties: false } });
    await writeFile(path.join(api.dataDir, 'greylist.sluice'), createSignedBundle({ manifest, code: agentSource(HANDLERS), privateKey: vendor.privateKey }));

    const install = await run('agents', 'install', 'greylist.sluice');
    assert.deepEqual(install, { code: 0, out: 'installed acme/greylist 1.2.0 (disabled; enable it with: sluice agents enable acme/greylist)\n', err: '' });
    assert.equal((await run('agents', 'install', 'greylist.sluice')).out, 'acme/greylist 1.2.0 is already installed\n');

    const list = await run('agents', 'list');
    assert.equal(list.out, `PRIORITY  NAME           VERSION  KIND     STATE     GRANTED  KEY\n100       acme/greylist  1.2.0    receive  disabled  log      ${vendor.keyId}\n`);

    const enable = await run('agents', 'enable', 'acme/greylist', '--grant', 'kv');
    assert.deepEqual(enable, { code: 0, out: 'enabled acme/greylist (granted: log, kv)\n', err: '' });
    assert.equal((await api.rcptTo('blocked@example.com')).verdict, 'reject', 'enabled from the CLI, live at the next event');

    const show = await run('agents', 'show', 'acme/greylist');
    assert.match(show.out, /^name: +acme\/greylist$/m);
    assert.match(show.out, /^state: +enabled$/m);
    assert.match(show.out, /^granted: +log, kv$/m);
    assert.equal(JSON.parse((await run('agents', 'show', 'acme/greylist', '--json')).out).name, 'acme/greylist');

    assert.equal((await run('agents', 'priority', 'acme/greylist', '7')).out, 'acme/greylist now runs at priority 7\n');
    assert.equal((await run('agents', 'config', 'acme/greylist', '{"maxRecipients":3}')).out, 'configured acme/greylist: {"maxRecipients":3}\n');
    await writeFile(path.join(api.dataDir, 'conf.json'), '{"maxRecipients":9}');
    assert.equal((await run('agents', 'config', 'acme/greylist', '@conf.json')).out, 'configured acme/greylist: {"maxRecipients":9}\n');
    assert.equal((await run('agents', 'policy', 'acme/greylist', '--budget', 'onRcptTo=20', '--failure', 'open')).out, 'acme/greylist: failure policy open; budgets onRcptTo=20ms\n');

    const stats = await run('agents', 'stats', 'acme/greylist');
    assert.match(stats.out, /^acme\/greylist 1\.2\.0, breaker closed\nEVENT +CALLS +P50 MS/);
    assert.match(stats.out, /^onRcptTo +1 +.*reject=1$/m);
    assert.equal((await run('agents', 'reset-breaker', 'acme/greylist')).out, 'breaker of acme/greylist is closed\n');
    assert.equal((await run('agents', 'disable', 'acme/greylist')).out, 'disabled acme/greylist\n');
    assert.equal((await run('agents', 'uninstall', 'acme/greylist')).out, 'uninstalled acme/greylist\n');
    assert.equal((await run('agents', 'list')).out, 'no agents installed\n');
  });
});

test('an API refusal exits 1 and prints the problem title, detail and field', async () => {
  await withApi(async (api, run) => {
    const vendor = generateKeyPair();
    await run('keys', 'add', vendor.publicKey, '--vendor', 'acme');
    await writeFile(path.join(api.dataDir, 'a.sluice'), createSignedBundle({ manifest: draftManifest(), code: agentSource(HANDLERS), privateKey: vendor.privateKey }));
    await run('agents', 'install', 'a.sluice');
    const grant = await run('agents', 'enable', 'acme/greylist', '--grant', 'kv,dns');
    assert.equal(grant.code, 1);
    assert.equal(grant.out, '');
    assert.match(grant.err, /^sluice: Unprocessable Content: acme\/greylist does not request the dns capability/);
    assert.match(grant.err, /^ {2}field capabilities\[1\]: /m);
    const missing = await run('agents', 'show', 'acme/nothing');
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no agent named acme\/nothing/);
    const budget = await run('agents', 'policy', 'acme/greylist', '--budget', 'onRcptTo=999');
    assert.equal(budget.code, 1);
    assert.match(budget.err, /field budgets\.onRcptTo/);
  });
});

test('usage mistakes exit 2 without calling the API', async () => {
  await withApi(async (api, run) => {
    const cases: [string[], RegExp][] = [
      [['agents'], /missing command/],
      [['agents', 'frobnicate'], /unknown command "agents frobnicate"/],
      [['agents', 'show', 'greylist'], /not an agent name: expected vendor\/agent/],
      [['agents', 'list', '--force'], /--force does not apply to "agents list"/],
      [['agents', 'list', '--bogus'], /Unknown option '--bogus'/],
      [['agents', 'priority', 'acme/x', 'high'], /priority: expected a whole number/],
      [['agents', 'policy', 'acme/x', '--budget', 'rcpt:5'], /--budget "rcpt:5": expected EVENT=MS/],
      [['agents', 'policy', 'acme/x'], /give --budget EVENT=MS and\/or --failure/],
      [['agents', 'config', 'acme/x', '{nope'], /config: not valid JSON/],
      [['agents', 'install', 'missing.sluice'], /install: cannot read .*missing\.sluice: ENOENT/],
      [['keys', 'add', 'AAAA'], /--vendor V/],
      [['keys', 'add', './no/such.pub', '--vendor', 'x'], /no such file/],
      [['tokens', 'create', 'x', '--role', 'root'], /--role: expected read-only or admin/],
      [['queues', 'list'], /unknown command group "queues"/],
      [['agents', 'list', '--api', 'nowhere'], /--api: expected HOST:PORT/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(...argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.match(r.err, message, argv.join(' '));
    }
    assert.equal((await api.auditLines()).length, 0, 'nothing reached the API as a change');
    const help = await run('keys', '--help');
    assert.equal(help.code, 0);
    assert.match(help.out, /^Usage: sluice keys/);
  });
});

test('tokens: --token, --token-file, $SLUICE_TOKEN and the default file; a read-only token reads but cannot change (exit 1)', async () => {
  await withApi(async (api, run) => {
    const created = await run('tokens', 'create', 'viewer');
    assert.equal(created.code, 0);
    const ro = created.out.trim();
    assert.match(ro, /^sluice_/);
    assert.match(created.err, /read-only token "viewer" .* shown only this once/);
    await writeFile(path.join(api.dataDir, 'ro.token'), `${ro}\n`);

    assert.equal((await run('agents', 'list', '--token', ro)).code, 0);
    assert.equal((await run('agents', 'list', '--token-file', 'ro.token')).code, 0);
    assert.equal((await cli(api, { SLUICE_TOKEN: ro })('agents', 'list')).code, 0);
    const denied = await cli(api, { SLUICE_TOKEN: ro })('keys', 'add', generateKeyPair().publicKey, '--vendor', 'acme');
    assert.equal(denied.code, 1);
    assert.match(denied.err, /^sluice: Forbidden: token "viewer" is read-only/);

    const wrong = await run('agents', 'list', '--token', 'sluice_wrong');
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /Unauthorized: the API token is not valid/);
    assert.ok(!wrong.err.includes('sluice_wrong'));

    const noToken = await cli(api, { SLUICE_DATA: path.join(api.dataDir, 'elsewhere') })('agents', 'list');
    assert.equal(noToken.code, 2);
    assert.match(noToken.err, /no API token given .*elsewhere\/admin\.token: ENOENT/);

    const tokens = await run('tokens', 'list');
    assert.match(tokens.out, /^ID +NAME +ROLE +CREATED\n/);
    const id = /^(tok_[0-9a-f]{12}) +viewer /m.exec(tokens.out)?.[1];
    assert.ok(id, tokens.out);
    assert.equal((await run('tokens', 'revoke', id)).code, 0);
    assert.equal((await run('agents', 'list', '--token', ro)).code, 1);
  });
});

test('an API that cannot be reached exits 3 and says where it looked', async () => {
  const port = await new Promise<number>((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
  let err = '';
  const code = await runAdminCommand(['agents', 'list', '--api', `127.0.0.1:${port}`, '--token', 'sluice_x'], {}, { stdout: () => {}, stderr: (t) => (err += t), cwd: process.cwd() });
  assert.equal(code, 3);
  assert.match(err, new RegExp(`cannot reach the API at http://127\\.0\\.0\\.1:${port}`));
});

test('a key id that starts with a dash is an argument, not an option (one key in 64)', async () => {
  await withApi(async (api, run) => {
    let key = generateKeyPair();
    for (let i = 0; i < 5000 && !key.keyId.startsWith('-'); i++) key = generateKeyPair();
    assert.ok(key.keyId.startsWith('-'), 'found a key id with a leading dash');
    assert.deepEqual(await run('keys', 'add', key.publicKey, '--vendor', 'dash'), { code: 0, out: `trusted key ${key.keyId} for dash\n`, err: '' });
    assert.deepEqual(await run('keys', 'revoke', key.keyId), { code: 0, out: `revoked key ${key.keyId}\n`, err: '' });
    const removed = await run('keys', 'remove', key.keyId);
    assert.equal(removed.code, 0, removed.err);
    assert.ok(removed.out.includes(key.keyId), removed.out);
    const unknown = await run('keys', 'revoke', '-nosuchkey0000000000');
    assert.equal(unknown.code, 1, unknown.err);
    assert.equal((await run('keys', 'list', '-x')).code, 2, 'a stray dash word where no argument belongs is still refused');
  });
});
