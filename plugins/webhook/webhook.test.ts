// The webhook plugin end to end, as its README says: sluice-agent build → test → keygen → sign →
// verify; a running `sluice serve` whose config routes hooks.test to an agent connector; keys add,
// agents install / config / enable --grant fetch / policy over the CLI and the API. Then mail sent
// to that server over SMTP goes through the whole pipeline (categorizer, router, the agent
// connector, the signed agent in the sandbox, its fetch capability) to a real HTTP receiver on
// 127.0.0.1; what became of it is read back from message tracking over the API and from the
// sender's mailbox.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrackingEntry, TrackingEvent } from '../../runtime/tracking/index.ts';
import { parseReport, sendMail, until } from '../../runtime/pipeline/outbound-test-kit.ts';
import { idempotencyKey, type WebhookDocument } from './src/request.ts';
import { freePort } from '../../runtime/testing/free-port.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PLUGIN = fileURLToPath(new URL('./', import.meta.url));
const AGENT = 'sluice/webhook';
const SENDER = 'sender@example.com';
const HOP = 'hook:hooks.test';

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
  // Sockets of unanswered requests: destroying the socket (not the response, which Bun answers
  // with a 200) is what a receiver that dies mid-request looks like.
  const hanging: Socket[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (mode === 'hang') return void hanging.push(req.socket);
      const [status, text] = mode === 'ok' ? [200, '{"accepted":true}'] : mode === 'busy' ? [503, 'try again later'] : [404, 'no such hook'];
      res.writeHead(status, { 'content-type': 'text/plain' }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(typeof address === 'object' && address !== null);
  let closed: Promise<void> | undefined;
  return {
    origin: `http://127.0.0.1:${address.port}`,
    received,
    setMode: (next) => void (mode = next),
    close: () =>
      (closed ??= (async () => {
        for (const socket of hanging.splice(0)) socket.destroy();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })()),
  };
}

/** The POSTs whose document is about queue id `id`. */
function postsFor(received: readonly Received[], id: string): Received[] {
  return received.filter((r) => {
    try {
      return (JSON.parse(r.body) as WebhookDocument).id === id;
    } catch {
      return false;
    }
  });
}

test('the webhook plugin is built, signed, installed and enabled with a fetch grant; mail sent over SMTP is POSTed: 503 waits and retries with the same Idempotency-Key, 200 delivers, 404 bounces, a hang or a missing receiver defers', async () => {
  const work = await mkdtemp(join(tmpdir(), 'sluice-webhook-'));
  const receiver = await startReceiver();
  let server: ChildProcess | undefined;
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

    // Admin side: a server whose config routes hooks.test to the agent connector, relays for
    // loopback clients, and retries soon; the agent goes in over the CLI and the API.
    const smtpPort = await freePort();
    const apiPort = await freePort();
    const data = join(work, 'data');
    const config = join(work, 'sluice.json');
    await writeFile(
      config,
      JSON.stringify({
        smtp: { relayNetworks: ['127.0.0.1/32'] },
        routing: { connectors: [{ name: 'hook', type: 'agent', agent: AGENT, addressSpaces: ['hooks.test'] }] },
        delivery: { retry: { firstMs: 300, maxMs: 300, expireMs: 600_000 } },
      }),
    );
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

    // What the running server says, over the API with the admin token it made.
    const token = (await readFile(join(data, 'admin.token'), 'utf8')).trim();
    const search = async (queueId: string, event: TrackingEvent): Promise<TrackingEntry[]> => {
      const res = await fetch(`http://127.0.0.1:${apiPort}/v1/tracking?${new URLSearchParams({ queueId, event })}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200, await res.clone().text());
      return ((await res.json()) as { entries: TrackingEntry[] }).entries;
    };
    const tracked = (queueId: string, event: TrackingEvent, atLeast = 1, timeoutMs?: number): Promise<TrackingEntry[]> =>
      until(
        `${atLeast} ${event} for ${queueId}`,
        async () => {
          const found = await search(queueId, event);
          return found.length >= atLeast ? found : undefined;
        },
        timeoutMs,
      );
    const senderMailbox = async (): Promise<Buffer[]> => {
      const dir = join(data, 'mailboxes', 'example.com', 'sender', 'new');
      const names = await readdir(dir).catch(() => [] as string[]);
      return Promise.all(names.sort().map((n) => readFile(join(dir, n))));
    };

    // 503: the message stays queued with the webhook's answer and is retried; every POST for it
    // carries the same Idempotency-Key, so the receiver can drop duplicates; then 200 delivers it.
    receiver.setMode('busy');
    const body = 'From: <sender@example.com>\r\nTo: <x@hooks.test>\r\nSubject: webhook test\r\nMessage-ID: <hook-1@client.test>\r\n\r\nhello over HTTP\r\n.a line with a dot\r\n';
    const first = await sendMail(smtpPort, SENDER, ['x@hooks.test'], body);
    const deferrals = await tracked(first, 'DEFER', 2);
    for (const d of deferrals) assert.deepEqual([d.nextHop, d.recipients, d.reply], [HOP, ['x@hooks.test'], '451 4.4.0 webhook answered HTTP 503: try again later']);
    assert.ok(postsFor(receiver.received, first).length >= 2, 'each retry POSTed again');
    assert.deepEqual(await search(first, 'DELIVER'), [], 'not delivered while the webhook answers 503');
    receiver.setMode('ok');
    const [delivered] = await tracked(first, 'DELIVER');
    assert.deepEqual([delivered!.nextHop, delivered!.recipients, delivered!.reply], [HOP, ['x@hooks.test'], 'delivered by sluice/webhook']);
    const posts = postsFor(receiver.received, first);
    const key = idempotencyKey(first, ['x@hooks.test']);
    assert.deepEqual(new Set(posts.map((p) => p.headers['idempotency-key'])), new Set([key]), 'one Idempotency-Key across the retries');
    const last = posts[posts.length - 1]!;
    assert.equal(last.method, 'POST');
    assert.equal(last.url, '/sluice/inbound');
    assert.equal(last.headers['content-type'], 'application/json');
    assert.equal(last.headers.authorization, 'Bearer s3cret');
    const document = JSON.parse(last.body) as WebhookDocument;
    const message = Buffer.from(document.message, 'base64').toString('latin1');
    assert.match(message, new RegExp(`^Received: from client\\.test \\(\\[127\\.0\\.0\\.1\\]\\)\\r\\n\\tby [^\\r\\n]+ \\(Sluice\\)\\r\\n\\twith ESMTP id ${first}\\r\\n\\tfor <x@hooks\\.test>; [^\\r\\n]+\\r\\n`));
    assert.ok(message.endsWith(body), 'the whole message as sent, trace field first, dot-stuffing undone');
    assert.deepEqual(
      { ...document, message: undefined, headers: document.headers.filter((h) => h.name !== 'Received') },
      {
        id: first,
        connector: 'hook',
        envelope: { sender: SENDER, recipients: ['x@hooks.test'], mailParams: { body: '7BIT', smtputf8: false } },
        recipients: [{ address: 'x@hooks.test' }],
        headers: [
          { name: 'From', value: '<sender@example.com>' },
          { name: 'To', value: '<x@hooks.test>' },
          { name: 'Subject', value: 'webhook test' },
          { name: 'Message-ID', value: '<hook-1@client.test>' },
        ],
        size: Buffer.byteLength(message, 'latin1'),
        message: undefined,
      },
    );
    assert.deepEqual(await senderMailbox(), [], 'no report for a message that was delivered');

    // 404: a permanent refusal, bounced to the sender with the webhook's answer.
    receiver.setMode('missing');
    const second = await sendMail(smtpPort, SENDER, ['y@hooks.test'], 'Subject: gone\r\nMessage-ID: <hook-2@client.test>\r\n\r\nbody line\r\n');
    const [failed] = await tracked(second, 'FAIL');
    const refusal = '550 5.7.1 webhook refused the message (HTTP 404): no such hook';
    assert.deepEqual([failed!.nextHop, failed!.recipients, failed!.reply], [HOP, ['y@hooks.test'], refusal]);
    assert.deepEqual(await search(second, 'DEFER'), [], 'a permanent refusal is not retried');
    assert.equal(postsFor(receiver.received, second).length, 1);
    const reports = await until('the failure report', async () => {
      const found = await senderMailbox();
      return found.length > 0 ? found : undefined;
    });
    assert.equal(reports.length, 1);
    assert.ok(reports[0]!.toString('latin1').startsWith('Return-Path: <>\r\n'), 'from the null sender');
    const report = await parseReport(reports[0]!);
    assert.equal(report.mail.subject, 'Undelivered Mail Returned to Sender');
    assert.equal(report.mail.inReplyTo, '<hook-2@client.test>');
    assert.equal(report.perMessage.get('x-sluice-queue-id'), second);
    assert.equal(report.recipients.length, 1);
    const r = report.recipients[0]!;
    assert.equal(r.get('final-recipient'), 'rfc822; y@hooks.test');
    assert.equal(r.get('action'), 'failed');
    assert.equal(r.get('status'), '5.7.1');
    assert.equal(r.get('diagnostic-code'), `smtp; ${refusal}`);
    assert.equal(report.returnedType, 'text/rfc822-headers');

    // A receiver that never answers: deferred once the event's budget (1500 ms) is spent, and the
    // timeout is counted against the agent; then the receiver is gone and the retry says so.
    receiver.setMode('hang');
    const third = await sendMail(smtpPort, SENDER, ['z@hooks.test'], 'Subject: anyone there?\r\nMessage-ID: <hook-3@client.test>\r\n\r\nbody line\r\n');
    const [hung] = await tracked(third, 'DEFER');
    assert.deepEqual([hung!.nextHop, hung!.reply], [HOP, '451 4.3.0 Requested action aborted: local error in processing']);
    const stats = JSON.parse(ok(await admin('agents', 'stats', AGENT, '--json'), 'agents stats')) as { events: Record<string, { calls: number; timeouts: number }> };
    assert.ok((stats.events.onDeliverMailItem?.timeouts ?? 0) >= 1, `the timeout is recorded against the agent: ${JSON.stringify(stats.events)}`);
    await receiver.close();
    const unreachable = await until('a deferral saying the receiver is not reached', async () =>
      (await search(third, 'DEFER')).find((e) => e.reply?.includes('webhook not reached')),
    );
    assert.match(unreachable.reply ?? '', new RegExp(`^451 4\\.4\\.0 webhook not reached: fetch: request to ${receiver.origin.replace(/[.]/g, '\\.')} failed`));
    assert.deepEqual(await search(third, 'DELIVER'), []);
  } finally {
    await stop(server);
    await receiver.close().catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
});
