// Receive agents end to end: signed bundles installed into a real server, real sandbox host, real SMTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { RawSmtpClient } from '../testing/raw-smtp-client.ts';
import { installEnabled, signedAgent, trustedVendor, unsignedAgent, type TestAgent } from '../testing/agent-kit.ts';
import { RegistryError } from './registry-types.ts';

const reject = (code: number, enhanced: string, text: string): string => `({ verdict: 'reject', code: ${code}, enhanced: '${enhanced}', text: ${JSON.stringify(text)} })`;

/** Refuses recipients whose local part starts with "blocked". */
const GATE: TestAgent = {
  name: 'acme/gate',
  budgets: { onRcptTo: 200 },
  handlers: `onRcptTo(e) { if (e.recipient.startsWith('blocked')) return ${reject(550, '5.7.1', 'gate says no to ')}; }`,
};

/** Stamps a header at end of data. */
const STAMP: TestAgent = {
  name: 'acme/stamp',
  budgets: { onEndOfData: 200 },
  handlers: `onEndOfData(e) { return { verdict: 'continue', headers: [{ op: 'add', name: 'X-Stamped', value: 'by stamp for ' + e.envelope.recipients.join(',') }] }; }`,
};

async function session(server: TestServer): Promise<RawSmtpClient> {
  const c = await RawSmtpClient.connect(server.port);
  assert.equal((await c.reply()).code, 220);
  assert.equal((await c.command('EHLO client.test')).code, 250);
  return c;
}

async function withServer(fn: (server: TestServer) => Promise<void>, config: Parameters<typeof startTestServer>[0] = {}, options: Parameters<typeof startTestServer>[1] = {}): Promise<void> {
  const server = await startTestServer(config, options);
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

test('a signed receive agent rejects a recipient over SMTP; a stamping agent edits the delivered message', async () => {
  await withServer(async (server) => {
    const key = await trustedVendor(server.trust, server.agents, ['acme']);
    await installEnabled(server.agents, GATE, key);
    await installEnabled(server.agents, STAMP, key);
    const c = await session(server);
    assert.equal((await c.command('MAIL FROM:<a@example.net>')).code, 250);
    const refused = await c.command('RCPT TO:<blocked@example.com>');
    assert.equal(refused.code, 550);
    assert.equal(refused.text, '5.7.1 gate says no to ');
    assert.equal((await c.command('RCPT TO:<ok@example.com>')).code, 250);
    assert.equal((await c.command('DATA')).code, 354);
    const queued = await c.command('Subject: hi\r\n\r\nbody\r\n.');
    assert.equal(queued.code, 250, queued.text);
    await c.command('QUIT');
    const [message] = await server.waitForMail('example.com', 'ok', 1);
    const text = message!.toString('latin1');
    assert.match(text, /\r\nX-Stamped: by stamp for ok@example\.com\r\n\r\nbody\r\n$/);
    assert.match(text, /^Return-Path: <a@example\.net>\r\nReceived: /);
    assert.deepEqual(await server.mailbox('example.com', 'blocked'), []);
    const stats = server.agents.stats('acme/gate');
    assert.equal(stats.events.onRcptTo?.calls, 2);
    assert.equal(stats.events.onRcptTo?.verdicts.reject, 1);
  });
});

test('priority decides which terminal verdict wins, and a reorder applies to the next command', async () => {
  await withServer(async (server) => {
    const key = await trustedVendor(server.trust, server.agents, ['acme']);
    await installEnabled(server.agents, { name: 'acme/first', budgets: { onRcptTo: 200 }, handlers: `onRcptTo() { return ${reject(550, '5.7.1', 'first')}; }` }, key, 10);
    await installEnabled(server.agents, { name: 'acme/second', budgets: { onRcptTo: 200 }, handlers: `onRcptTo() { return ${reject(553, '5.7.2', 'second')}; }` }, key, 20);
    const c = await session(server);
    await c.command('MAIL FROM:<a@example.net>');
    assert.equal((await c.command('RCPT TO:<x@example.com>')).text, '5.7.1 first');
    await server.agents.setPriority('acme/second', 5);
    const after = await c.command('RCPT TO:<x@example.com>');
    assert.equal(after.code, 553);
    assert.equal(after.text, '5.7.2 second');
    assert.deepEqual(server.agents.list().map((a) => a.name), ['acme/second', 'acme/first']);
    c.close();
  });
});

test('disabling an agent takes effect on the next command of an open session', async () => {
  await withServer(async (server) => {
    const key = await trustedVendor(server.trust, server.agents, ['acme']);
    await installEnabled(server.agents, GATE, key);
    const c = await session(server);
    await c.command('MAIL FROM:<a@example.net>');
    assert.equal((await c.command('RCPT TO:<blocked1@example.com>')).code, 550);
    await server.agents.disable('acme/gate');
    assert.equal((await c.command('RCPT TO:<blocked2@example.com>')).code, 250);
    await server.agents.enable('acme/gate');
    assert.equal((await c.command('RCPT TO:<blocked3@example.com>')).code, 550);
    c.close();
  });
});

test('a looping agent tempfails its command, another connection is served, and the breaker suspends it', async () => {
  const looper: TestAgent = { name: 'acme/looper', budgets: { onRcptTo: 100 }, handlers: `onRcptTo(e) { if (e.recipient.startsWith('loop')) for (;;) {} }` };
  await withServer(
    async (server) => {
      const key = await trustedVendor(server.trust, server.agents, ['acme']);
      await installEnabled(server.agents, looper, key);
      const a = await session(server);
      const b = await session(server);
      await a.command('MAIL FROM:<a@example.net>');
      await b.command('MAIL FROM:<b@example.net>');
      const pending = a.command('RCPT TO:<loop1@example.com>');
      assert.equal((await b.command('RCPT TO:<fine@example.com>')).code, 250, 'the other connection is served');
      const first = await pending;
      assert.equal(first.code, 451);
      assert.equal(first.text, '4.3.0 Requested action aborted: local error in processing');
      // The other connection's success reset the count: the breaker opens after two failures in a row.
      assert.equal((await a.command('RCPT TO:<loop2@example.com>')).code, 451);
      assert.equal(server.agents.get('acme/looper')?.breaker.state, 'closed');
      assert.equal((await a.command('RCPT TO:<loop3@example.com>')).code, 451);
      assert.equal(server.agents.get('acme/looper')?.breaker.state, 'open', 'two failures in a row open the breaker');
      // Suspended: the agent is skipped, so the command passes.
      assert.equal((await a.command('RCPT TO:<loop4@example.com>')).code, 250);
      assert.equal(server.agents.stats('acme/looper').events.onRcptTo?.timeouts, 3);
      assert.ok(server.logs.some((l) => l.event === 'agent.breaker.open' && l.fields.agent === 'acme/looper'));
      await server.agents.resetBreaker('acme/looper');
      assert.equal((await a.command('RCPT TO:<loop5@example.com>')).code, 451, 'after a reset the agent runs again');
      a.close();
      b.close();
    },
    { agents: { breakerThreshold: 2, breakerCooldownMs: 60_000 } },
  );
});

test('an allocation that aborts the sandbox host tempfails that command; the host restarts and the next one is served', async () => {
  const bomb: TestAgent = {
    name: 'acme/bomb',
    budgets: { onRcptTo: 500 },
    handlers: `onRcptTo(e) { if (e.recipient.startsWith('bomb')) { const o = {}; for (let i = 0; i < 1e7; i++) o['k' + i] = i; return o; } return ${reject(550, '5.7.1', 'alive')}; }`,
    manifest: { memoryMiB: 8 },
  };
  await withServer(async (server) => {
    const key = await trustedVendor(server.trust, server.agents, ['acme']);
    await installEnabled(server.agents, bomb, key);
    const c = await session(server);
    await c.command('MAIL FROM:<a@example.net>');
    const crashed = await c.command('RCPT TO:<bomb@example.com>', 20_000);
    assert.equal(crashed.code, 451, crashed.text);
    const next = await c.command('RCPT TO:<other@example.com>', 20_000);
    assert.equal(next.text, '5.7.1 alive', 'the agent was reloaded into a new host');
    const events = server.agents.stats('acme/bomb').events.onRcptTo;
    assert.equal((events?.crashes ?? 0) + (events?.errors ?? 0) + (events?.timeouts ?? 0), 1);
    c.close();
  });
});

test('an upgrade applies to the next event while the running one finishes on the old version', async () => {
  const version = (v: string, spin: number): TestAgent => ({
    name: 'acme/versioned',
    version: v,
    budgets: { onRcptTo: 2000 },
    handlers: `onRcptTo() { const end = Date.now() + ${spin}; while (Date.now() < end) {} return ${reject(550, '5.7.1', `version ${v}`)}; }`,
  });
  await withServer(async (server) => {
    const key = await trustedVendor(server.trust, server.agents, ['acme']);
    await installEnabled(server.agents, version('1.0.0', 400), key);
    const c = await session(server);
    await c.command('MAIL FROM:<a@example.net>');
    const running = c.command('RCPT TO:<x@example.com>');
    await new Promise((r) => setTimeout(r, 100));
    const upgraded = await server.agents.install(signedAgent(version('1.1.0', 0), key));
    assert.equal(upgraded.action, 'upgrade');
    assert.equal(upgraded.agent.settings.enabled, true, 'an upgrade keeps the settings');
    assert.equal((await running).text, '5.7.1 version 1.0.0');
    assert.equal((await c.command('RCPT TO:<y@example.com>')).text, '5.7.1 version 1.1.0');
    await assert.rejects(server.agents.install(signedAgent(version('1.0.5', 0), key)), (e: unknown) => e instanceof RegistryError && e.code === 'DOWNGRADE');
    c.close();
  });
});

test('unsigned bundles are refused, unless the server runs in development mode, which marks every log line', async () => {
  const dev: TestAgent = { name: 'devco/trial', budgets: { onMailFrom: 200 }, handlers: `onMailFrom() { return ${reject(550, '5.7.1', 'dev agent')}; }` };
  await withServer(async (server) => {
    await assert.rejects(server.agents.install(unsignedAgent(dev)), (e: unknown) => e instanceof RegistryError && e.code === 'BUNDLE_REJECTED' && e.detail === 'UNSIGNED');
  });
  await withServer(
    async (server) => {
      assert.equal(server.agents.devMode, true);
      const { agent } = await server.agents.install(unsignedAgent(dev));
      assert.equal(agent.unsigned, true);
      await server.agents.enable('devco/trial');
      const c = await session(server);
      assert.equal((await c.command('MAIL FROM:<a@example.net>')).text, '5.7.1 dev agent');
      c.close();
      const lines = server.logs.filter((l) => l.event.startsWith('agent.') && l.fields.agent === 'devco/trial');
      assert.ok(lines.length >= 2);
      for (const line of lines) assert.equal(line.fields.unsigned, true, `${line.event} says unsigned`);
    },
    {},
    { allowUnsignedAgents: true },
  );
});

test('removing a vendor key disables its agents; installed agents survive a restart and are verified again from disk', async () => {
  const server = await startTestServer();
  const dataDir = server.dataDir;
  const key = await trustedVendor(server.trust, server.agents, ['acme']);
  await installEnabled(server.agents, GATE, key);
  await server.close();
  const again = await startTestServer({ dataDir });
  try {
    assert.equal(again.agents.get('acme/gate')?.settings.enabled, true);
    const c = await session(again);
    await c.command('MAIL FROM:<a@example.net>');
    assert.equal((await c.command('RCPT TO:<blocked@example.com>')).code, 550, 'the agent runs after the restart');
    await again.trust.removeKey(key.keyId);
    await again.agents.trustChanged();
    const info = again.agents.get('acme/gate');
    assert.equal(info?.settings.enabled, false);
    assert.match(info?.blocked ?? '', /UNKNOWN_KEY/);
    assert.equal((await c.command('RCPT TO:<blocked@example.com>')).code, 250);
    await assert.rejects(again.agents.enable('acme/gate'), (e: unknown) => e instanceof RegistryError && e.code === 'BUNDLE_REJECTED');
    c.close();
    // Trusted again, but a tampered file on disk is refused at the next load.
    await again.trust.addKey({ publicKey: key.publicKey, vendors: ['acme'] });
    await again.agents.trustChanged();
    await again.agents.enable('acme/gate');
  } finally {
    await again.close();
  }
  const file = join(dataDir, 'agents', 'bundles', 'acme', 'gate', '1.0.0.sluice');
  const bytes = await readFile(file);
  bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 1;
  await writeFile(file, bytes);
  const third = await startTestServer({ dataDir });
  try {
    assert.match(third.agents.get('acme/gate')?.blocked ?? '', /BAD_SIGNATURE|CODE_MISMATCH/);
    const c = await session(third);
    await c.command('MAIL FROM:<a@example.net>');
    assert.equal((await c.command('RCPT TO:<blocked@example.com>')).code, 250, 'a bundle that does not verify never runs');
    c.close();
  } finally {
    await third.stop();
  }
});

test('the message body reaches only the agents whose manifest asks for it', async () => {
  const probe = (name: string, wantsBody: boolean): TestAgent => ({
    name,
    budgets: { onEndOfData: 300 },
    manifest: { wantsBody },
    handlers: `onEndOfData(e) { return { verdict: 'continue', headers: [{ op: 'add', name: 'X-${name.split('/')[1]}', value: e.body === undefined ? 'no body' : e.body }] }; }`,
  });
  await withServer(async (server) => {
    const key = await trustedVendor(server.trust, server.agents, ['acme']);
    await installEnabled(server.agents, probe('acme/reader', true), key, 1);
    await installEnabled(server.agents, probe('acme/blind', false), key, 2);
    const c = await session(server);
    await c.command('MAIL FROM:<a@example.net>');
    await c.command('RCPT TO:<bob@example.com>');
    await c.command('DATA');
    assert.equal((await c.command('Subject: s\r\n\r\nsecret words\r\n.')).code, 250);
    c.close();
    const [message] = await server.waitForMail('example.com', 'bob', 1);
    const text = message!.toString('latin1');
    const body = Buffer.from('Subject: s\r\n\r\nsecret words\r\n').toString('base64');
    assert.ok(text.includes(`\r\nX-reader: ${body}\r\nX-blind: no body\r\n\r\n`), text);
  });
});

test('agents on connect, helo and mail see the session; disconnect closes with 421', async () => {
  await withServer(async (server) => {
    const key = await trustedVendor(server.trust, server.agents, ['acme']);
    await installEnabled(
      server.agents,
      {
        name: 'acme/doorman',
        budgets: { onConnect: 200, onEhlo: 200, onMailFrom: 200 },
        handlers: `
          onConnect(e) { if (e.session.client.address !== '127.0.0.1') return ${reject(554, '5.7.1', 'not from here')}; },
          onEhlo(e) { if (e.name === 'bad.example') return ${reject(550, '5.7.1', 'bad helo')}; },
          onMailFrom(e) { if (e.session.helo !== 'good.example' || !e.session.id) return { verdict: 'disconnect', text: 'who are you' }; }`,
      },
      key,
    );
    const c = await RawSmtpClient.connect(server.port);
    assert.equal((await c.reply()).code, 220);
    assert.equal((await c.command('EHLO bad.example')).text, '5.7.1 bad helo');
    assert.equal((await c.command('EHLO good.example')).code, 250);
    assert.equal((await c.command('MAIL FROM:<a@example.net>')).code, 250);
    c.close();
    const d = await RawSmtpClient.connect(server.port);
    await d.reply();
    await d.command('HELO other.example');
    const bye = await d.command('MAIL FROM:<a@example.net>');
    assert.equal(bye.code, 421);
    assert.equal(bye.text, '4.7.0 who are you');
    await d.untilClosed();
  });
});

test('an onConnect reject answers instead of the greeting and closes', async () => {
  await withServer(async (server) => {
    const key = await trustedVendor(server.trust, server.agents, ['acme']);
    await installEnabled(server.agents, { name: 'acme/bouncer', budgets: { onConnect: 200 }, handlers: `onConnect(e) { return ${reject(554, '5.7.1', 'go away')}; }` }, key);
    const c = await RawSmtpClient.connect(server.port);
    const first = await c.reply();
    assert.equal(first.code, 554);
    assert.equal(first.text, '5.7.1 go away');
    await c.untilClosed();
  });
});

test('admin settings are checked against the manifest: config schema, lowered budgets only, requested capabilities only', async () => {
  await withServer(async (server) => {
    const key = await trustedVendor(server.trust, server.agents, ['acme']);
    const configured: TestAgent = {
      name: 'acme/configured',
      budgets: { onRcptTo: 100 },
      handlers: 'onRcptTo() {}',
      manifest: {
        capabilities: ['log', 'kv'],
        configSchema: { type: 'object', properties: { limit: { type: 'integer', minimum: 1 } }, required: ['limit'], additionalProperties: false },
      },
    };
    await server.agents.install(signedAgent(configured, key));
    const fails = (code: string, field: string) => (e: unknown) => e instanceof RegistryError && e.code === code && e.field === field;
    await assert.rejects(server.agents.setConfig('acme/configured', { limit: 0 }), fails('INVALID_CONFIG', 'config.limit'));
    await assert.rejects(server.agents.setConfig('acme/configured', []), fails('INVALID_CONFIG', 'config'));
    const ok = await server.agents.setConfig('acme/configured', { limit: 5 });
    assert.deepEqual(ok.settings.config, { limit: 5 });
    await assert.rejects(server.agents.setPolicy('acme/configured', { budgets: { onRcptTo: 101 } }), fails('INVALID_BUDGET', 'budgets.onRcptTo'));
    await assert.rejects(server.agents.setPolicy('acme/configured', { budgets: { onMailFrom: 10 } }), fails('INVALID_BUDGET', 'budgets.onMailFrom'));
    assert.deepEqual((await server.agents.setPolicy('acme/configured', { budgets: { onRcptTo: 40 }, failurePolicy: 'open' })).settings.budgets, { onRcptTo: 40 });
    await assert.rejects(server.agents.enable('acme/configured', { capabilities: ['kv', 'dns'] }), fails('INVALID_GRANT', 'capabilities[1]'));
    const enabled = await server.agents.enable('acme/configured', { capabilities: ['kv'] });
    assert.deepEqual(enabled.settings.capabilities, ['log', 'kv']);
    await assert.rejects(server.agents.setPriority('acme/nobody', 1), fails('NOT_FOUND', 'name'));
    await server.agents.uninstall('acme/configured');
    assert.equal(server.agents.get('acme/configured'), undefined);
  });
});

test('agents may add trace-like headers but never change or remove Received', async () => {
  await withServer(async (server) => {
    const key = await trustedVendor(server.trust, server.agents, ['acme']);
    await installEnabled(
      server.agents,
      { name: 'acme/forger', budgets: { onEndOfData: 200 }, handlers: `onEndOfData() { return { verdict: 'continue', headers: [{ op: 'remove', name: 'Received' }, { op: 'set', name: 'Subject', value: 'edited' }] }; }` },
      key,
    );
    const c = await session(server);
    await c.command('MAIL FROM:<a@example.net>');
    await c.command('RCPT TO:<bob@example.com>');
    await c.command('DATA');
    assert.equal((await c.command('Received: from upstream\r\nSubject: s\r\n\r\nbody\r\n.')).code, 250);
    c.close();
    const [message] = await server.waitForMail('example.com', 'bob', 1);
    const text = message!.toString('latin1');
    assert.match(text, /^Return-Path: <[^>]*>\r\nReceived: from client\.test[\s\S]*\r\nReceived: from upstream\r\nSubject: edited\r\n\r\nbody\r\n$/);
    assert.ok(server.logs.some((l) => l.event === 'agent.header-edit.refused'));
  });
});

test('a message near the size limit reaches an agent that wants the body (the sandbox frame limit follows smtp.limits.messageSize)', async () => {
  // 26 MiB is 34.7 MiB as base64: past the sandbox's default frame limit of 32 MiB, so without the
  // limit following the message size, this message was tempfailed at the end of data for ever.
  const reader: TestAgent = {
    name: 'acme/reader',
    budgets: { onEndOfData: 5000 },
    manifest: { wantsBody: true, memoryMiB: 512 },
    handlers: `onEndOfData(e) { return { verdict: 'continue', headers: [{ op: 'add', name: 'X-Body-Chars', value: String(e.body.length) }] }; }`,
  };
  await withServer(
    async (server) => {
      const key = await trustedVendor(server.trust, server.agents, ['acme']);
      await installEnabled(server.agents, reader, key);
      const c = await session(server);
      await c.command('MAIL FROM:<a@example.net>');
      await c.command('RCPT TO:<bob@example.com>');
      assert.equal((await c.command('DATA')).code, 354);
      const line = `${'x'.repeat(998)}\r\n`;
      const body = line.repeat(Math.ceil((26 * 1024 * 1024) / line.length));
      const accepted = await c.command(`Subject: big\r\n\r\n${body}.`, 60_000);
      assert.equal(accepted.code, 250, accepted.text);
      c.close();
      const [message] = await server.waitForMail('example.com', 'bob', 1);
      const chars = Number(/\r\nX-Body-Chars: (\d+)\r\n/.exec(message!.toString('latin1'))?.[1]);
      assert.ok(chars > 32 * 1024 * 1024, `the agent saw ${chars} base64 characters`);
    },
    { smtp: { limits: { messageSize: 30 * 1024 * 1024 } } },
  );
});
