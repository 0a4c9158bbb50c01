// The webhook plugin end to end, as its README says: sluice-agent build → test → keygen → sign →
// verify; a running `sluice serve` whose config routes hooks.test to an agent connector; keys add,
// agents install / config / enable --grant fetch / policy over the API. The server does not hand
// mail to connectors yet, so delivery is driven through AgentConnector in this process, over the
// registry the server left in its data dir, against a real HTTP receiver on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChainSource } from '../../runtime/agents/receive-dispatcher.ts';
import { AgentRegistry, type ChainMember } from '../../runtime/agents/registry.ts';
import { TrustStore } from '../../runtime/agents/trust-store.ts';
import { AgentConnector } from '../../runtime/delivery/agent-connector.ts';
import type { ConnectorItem } from '../../runtime/delivery/connector.ts';
import type { LogFields, LogLevel } from '../../runtime/log/logger.ts';
import { SandboxHost } from '../../runtime/sandbox/sandbox-host.ts';
import { idempotencyKey, type WebhookDocument } from './src/request.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PLUGIN = fileURLToPath(new URL('./', import.meta.url));
const AGENT = 'sluice/webhook';

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** Runs a repository bin with node (also under Bun and Deno: the CLIs are Node programs). */
function run(bin: string, args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [join(ROOT, 'bin', bin), ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

function ok(r: Run, what: string): string {
  assert.equal(r.code, 0, `${what} failed:\n${r.out}\n${r.err}`);
  return r.out;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts `sluice serve` and resolves once its banner is out. */
function serve(args: string[], cwd: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [join(ROOT, 'bin', 'sluice.mjs'), 'serve', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no banner within 30 s:\n${out}`)), 30_000);
    const onClose = (code: number | null): void => {
      clearTimeout(timer);
      reject(new Error(`sluice serve exited with ${code}:\n${out}`));
    };
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('It is delivered to')) {
        clearTimeout(timer);
        child.off('close', onClose);
        resolve(child);
      }
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', onClose);
  });
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const closed = new Promise((r) => child.once('close', r));
  child.kill('SIGTERM');
  await closed;
}

type Mode = 'ok' | 'busy' | 'missing' | 'hang';
interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** The webhook's far end: records every request and answers as `mode` says ('hang' never answers). */
async function startReceiver(): Promise<{ origin: string; received: Received[]; setMode(mode: Mode): void; close(): Promise<void> }> {
  let mode: Mode = 'ok';
  const received: Received[] = [];
  const hanging: ServerResponse[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (mode === 'hang') return void hanging.push(res);
      const [status, text] = mode === 'ok' ? [200, '{"accepted":true}'] : mode === 'busy' ? [503, 'try again later'] : [404, 'no such hook'];
      res.writeHead(status, { 'content-type': 'text/plain' }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(typeof address === 'object' && address !== null);
  return {
    origin: `http://127.0.0.1:${address.port}`,
    received,
    setMode: (next) => void (mode = next),
    close: async () => {
      for (const res of hanging.splice(0)) res.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The registry as the connector's ChainSource, with links of agents whose manifest sets wantsBody
 * marked `body: true` on onDeliverMailItem. The registry marks only onEndOfData links today; once it
 * applies wantsBody to every event that carries a body this changes nothing and can go.
 */
function bodyAware(registry: AgentRegistry): ChainSource {
  const mark = (event: string, members: ChainMember[]): ChainMember[] =>
    event !== 'onDeliverMailItem' ? members : members.map((m) => (m.link.body === true || registry.get(m.name)?.manifest.wantsBody !== true ? m : { ...m, link: { ...m.link, body: true } }));
  return {
    chain: (event) => mark(event, [...registry.chain(event)]),
    runnable: (event) => mark(event, registry.runnable(event)),
    record: (event, members, result) => registry.record(event, members, result),
  };
}

function mailItem(id: string, recipients: string[], text: string): ConnectorItem {
  const message = new Uint8Array(Buffer.from(`From: sender@example.net\r\nTo: ${recipients.join(', ')}\r\nSubject: webhook test\r\n\r\n${text}\r\n`, 'utf8'));
  return {
    envelope: {
      id,
      sender: 'sender@example.net',
      recipients: [...recipients, 'local@example.com'].map((address) => ({ address })),
      receivedAt: Date.now(),
      size: message.byteLength,
      bodyType: '8BITMIME',
      smtputf8: false,
      client: { address: '127.0.0.1', port: 40000, helo: 'client.test', tls: false },
    },
    message,
    recipients: recipients.map((address, index) => ({ index, address, localPart: address.slice(0, address.indexOf('@')), domain: address.slice(address.indexOf('@') + 1) })),
  };
}

test('the webhook plugin is built, signed, installed and enabled with a fetch grant, and delivers, defers and fails by HTTP status', async () => {
  const work = await mkdtemp(join(tmpdir(), 'sluice-webhook-'));
  const receiver = await startReceiver();
  let server: ChildProcess | undefined;
  let driver: SandboxHost | undefined;
  try {
    // Vendor side: our own plugin, signed like any vendor's. Its manifest names the origin it may reach.
    const project = join(work, 'webhook');
    await cp(PLUGIN, project, { recursive: true, filter: (src) => !/(node_modules|dist|\.test\.ts$)/.test(src) });
    const manifest = JSON.parse(await readFile(join(project, 'sluice-agent.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(project, 'sluice-agent.json'), JSON.stringify({ ...manifest, fetchOrigins: [receiver.origin] }, null, 2));
    const url = `${receiver.origin}/sluice/inbound`;
    await writeFile(join(project, 'config.json'), JSON.stringify({ url, authorization: 'Bearer s3cret' }));
    ok(await run('sluice-agent.mjs', ['build'], { cwd: project }), 'build');
    const tested = ok(await run('sluice-agent.mjs', ['test', '--events', 'events/sample.json', '--config', 'config.json'], { cwd: project }), 'test');
    assert.match(tested, /ack alice@hooks\.example=delivered bob@hooks\.example=delivered/);
    assert.equal(receiver.received.length, 1, 'sluice-agent test ran the real request');
    ok(await run('sluice-agent.mjs', ['keygen', '--out', 'sluice'], { cwd: project }), 'keygen');
    ok(await run('sluice-agent.mjs', ['sign', '--key', 'sluice.key'], { cwd: project }), 'sign');
    const bundle = join('dist', 'sluice-webhook-1.0.0.sluice');
    ok(await run('sluice-agent.mjs', ['verify', bundle, '--pub', 'sluice.pub'], { cwd: project }), 'verify');

    // Admin side: a server whose config has the agent connector, and the API.
    const smtpPort = await freePort();
    const apiPort = await freePort();
    const data = join(work, 'data');
    const config = join(work, 'sluice.json');
    await writeFile(config, JSON.stringify({ routing: { connectors: [{ name: 'hook', type: 'agent', agent: AGENT, addressSpaces: ['hooks.test'] }] } }));
    server = await serve(['--config', config, '--smtp', `127.0.0.1:${smtpPort}`, '--api', `127.0.0.1:${apiPort}`, '--data', data, '--domain', 'example.com'], work);
    const env = { SLUICE_API: `127.0.0.1:${apiPort}`, SLUICE_DATA: data };
    const admin = (...args: string[]) => run('sluice.mjs', args, { cwd: project, env });
    ok(await admin('keys', 'add', 'sluice.pub', '--vendor', 'sluice'), 'keys add');
    ok(await admin('agents', 'install', bundle), 'agents install');
    const badConfig = await admin('agents', 'config', AGENT, JSON.stringify({ url: 'ftp://127.0.0.1/x' }));
    assert.equal(badConfig.code, 1, 'a URL that is not http(s) is refused');
    assert.match(badConfig.err, /config\.url/);
    ok(await admin('agents', 'config', AGENT, '@config.json'), 'agents config');
    const otherOrigin = await admin('agents', 'enable', AGENT, '--grant', 'fetch', '--fetch-origin', 'https://elsewhere.example');
    assert.equal(otherOrigin.code, 1, 'only an origin the signed manifest names can be granted');
    assert.match(otherOrigin.err, /https:\/\/elsewhere\.example is not among the origins/);
    ok(await admin('agents', 'enable', AGENT, '--grant', 'fetch', '--fetch-origin', receiver.origin), 'agents enable');
    // The per-event budget is the webhook's timeout.
    ok(await admin('agents', 'policy', AGENT, '--budget', 'onDeliverMailItem=1500'), 'agents policy');
    const shown = ok(await admin('agents', 'show', AGENT), 'agents show');
    assert.match(shown, new RegExp(`fetch origins: +${receiver.origin.replace(/[.]/g, '\\.')}`));
    assert.match(shown, /state: +enabled/);
    await stop(server);

    // What the server installed and enabled, run by a connector in this process.
    const logs: { level: LogLevel; event: string; fields: LogFields }[] = [];
    const log = (level: LogLevel, event: string, fields: LogFields = {}): void => void logs.push({ level, event, fields });
    driver = new SandboxHost({ onLog: () => {} });
    const trust = await TrustStore.open(join(data, 'agents', 'trusted-keys.json'));
    const registry = await AgentRegistry.open({ dataDir: data, trust, driver, driverInfo: { name: 'isolated-vm host process', guarantees: [] }, log });
    assert.equal(registry.get(AGENT)?.blocked, null, 'the bundle verifies against the admin-trusted key');
    const connector = new AgentConnector({ name: 'hook', agent: AGENT, chains: bodyAware(registry), driver, log });
    const hop = { connector: 'hook', destination: 'hooks.test' };
    const before = receiver.received.length;

    // 503: both recipients wait; the retry (same recipients) carries the same Idempotency-Key and delivers.
    const item = mailItem('01WEBHOOKTEST0001', ['a@hooks.test', 'b@hooks.test'], 'h\u00e9llo over HTTP');
    receiver.setMode('busy');
    const busy = await connector.deliver(hop, [item]);
    assert.deepEqual(busy, [
      [
        { index: 0, outcome: 'deferred', reply: '451 4.4.0 webhook answered HTTP 503: try again later' },
        { index: 1, outcome: 'deferred', reply: '451 4.4.0 webhook answered HTTP 503: try again later' },
      ],
    ]);
    receiver.setMode('ok');
    const delivered = await connector.deliver(hop, [item]);
    assert.deepEqual(delivered, [
      [
        { index: 0, outcome: 'delivered', detail: 'delivered by sluice/webhook' },
        { index: 1, outcome: 'delivered', detail: 'delivered by sluice/webhook' },
      ],
    ]);
    const [first, retry] = receiver.received.slice(before);
    assert.ok(first !== undefined && retry !== undefined);
    assert.equal(retry.method, 'POST');
    assert.equal(retry.url, '/sluice/inbound');
    assert.equal(retry.headers['content-type'], 'application/json');
    assert.equal(retry.headers.authorization, 'Bearer s3cret');
    assert.equal(retry.headers['idempotency-key'], idempotencyKey('01WEBHOOKTEST0001', ['a@hooks.test', 'b@hooks.test']));
    assert.equal(first.headers['idempotency-key'], retry.headers['idempotency-key'], 'a retried POST can be deduplicated');
    const document = JSON.parse(retry.body) as WebhookDocument;
    assert.deepEqual(
      { ...document, message: undefined },
      {
        id: '01WEBHOOKTEST0001',
        connector: 'hook',
        envelope: { sender: 'sender@example.net', recipients: ['a@hooks.test', 'b@hooks.test'], mailParams: { body: '8BITMIME', smtputf8: false } },
        recipients: [{ address: 'a@hooks.test' }, { address: 'b@hooks.test' }],
        headers: [
          { name: 'From', value: 'sender@example.net' },
          { name: 'To', value: 'a@hooks.test, b@hooks.test' },
          { name: 'Subject', value: 'webhook test' },
        ],
        size: item.message.byteLength,
        message: undefined,
      },
      'the envelope names only the recipients of this delivery, not local@example.com',
    );
    assert.deepEqual(new Uint8Array(Buffer.from(document.message, 'base64')), item.message, 'the whole message, byte for byte');

    // 404: a permanent refusal.
    receiver.setMode('missing');
    const missing = await connector.deliver(hop, [mailItem('01WEBHOOKTEST0002', ['c@hooks.test'], 'gone')]);
    assert.deepEqual(missing, [[{ index: 0, outcome: 'failed', reply: '550 5.7.1 webhook refused the message (HTTP 404): no such hook' }]]);

    // A receiver that never answers: deferred once the event's budget (1500 ms) is spent.
    receiver.setMode('hang');
    const started = Date.now();
    const hung = await connector.deliver(hop, [mailItem('01WEBHOOKTEST0003', ['d@hooks.test'], 'anyone there?')]);
    const took = Date.now() - started;
    assert.deepEqual(hung, [[{ index: 0, outcome: 'deferred', reply: '451 4.3.0 Requested action aborted: local error in processing' }]]);
    assert.ok(took >= 1000 && took < 10_000, `deferred within the budget (took ${took} ms)`);
    assert.equal(registry.stats(AGENT).events.onDeliverMailItem?.timeouts, 1, 'the timeout is recorded against the agent');

    // The receiver gone: the request is refused and the recipients wait.
    await receiver.close();
    const down = await connector.deliver(hop, [mailItem('01WEBHOOKTEST0004', ['e@hooks.test'], 'nobody home')]);
    const outcome = down[0]?.[0];
    assert.ok(outcome?.outcome === 'deferred', JSON.stringify(outcome));
    assert.match(outcome.reply, new RegExp(`^451 4\\.4\\.0 webhook not reached: fetch: request to ${receiver.origin.replace(/[.]/g, '\\.')} failed`));
    assert.equal(registry.stats(AGENT).events.onDeliverMailItem?.calls, 5);
  } finally {
    await stop(server);
    await driver?.close();
    await receiver.close().catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
});
