/**
 * Test support for the queue API and `sluice queue`: a real server with the API on, messages put in
 * over real SMTP, a Maildir made undeliverable so that they stay queued, and polling helpers.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConfigInput } from '../config/schema.ts';
import { RawSmtpClient } from '../testing/raw-smtp-client.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { until } from '../testing/until.ts';

export interface QueueServer extends TestServer {
  /** `http://127.0.0.1:<port>` */
  apiUrl: string;
  adminToken: string;
}

export interface ApiAnswer {
  status: number;
  headers: Headers;
  bytes: Uint8Array;
  /** The parsed JSON body, or undefined when it is not JSON. */
  json: any;
}

/** Deferred mail waits an hour: it moves only when a test says so. */
export const LONG_RETRY: ConfigInput = { delivery: { retry: { firstMs: 3_600_000, maxMs: 3_600_000, expireMs: 24 * 3_600_000 } } };

/** Runs `fn` against a fresh server with the API on 127.0.0.1 and mail retried only after an hour; always stops it. */
export async function withQueueServer(fn: (s: QueueServer) => Promise<void>, config: ConfigInput = {}): Promise<void> {
  const server = await startTestServer({ ...LONG_RETRY, ...config, api: { enabled: true, listen: '127.0.0.1:0' } });
  try {
    const adminToken = (await readFile(server.api!.tokenFile, 'utf8')).trim();
    await fn({ ...server, apiUrl: `http://127.0.0.1:${server.api!.port}`, adminToken });
  } finally {
    await server.stop();
  }
}

/** One API request with the admin token unless `token` says otherwise (`null`: none). */
export async function api(s: QueueServer, method: string, pathname: string, options: { token?: string | null; json?: unknown } = {}): Promise<ApiAnswer> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? s.adminToken : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${s.apiUrl}${pathname}`, { method, headers, ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}) });
  const bytes = new Uint8Array(await res.arrayBuffer());
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, bytes, json };
}

/** Sends one message over SMTP (`content` without the final dot); returns its queue id. */
export async function sendMail(s: TestServer, from: string, rcpts: string[], content: string | Uint8Array = 'Subject: queued\r\n\r\nbody\r\n'): Promise<string> {
  const c = await RawSmtpClient.connect(s.port);
  try {
    await c.reply();
    await c.command('EHLO client.test');
    assert.equal((await c.command(`MAIL FROM:<${from}>`)).code, 250);
    for (const r of rcpts) assert.equal((await c.command(`RCPT TO:<${r}>`)).code, 250);
    assert.equal((await c.command('DATA')).code, 354);
    c.write(content);
    c.write('.\r\n');
    const done = await c.reply();
    assert.equal(done.code, 250, done.text);
    return /queued as (\S+)/.exec(done.text)![1]!;
  } finally {
    c.close();
  }
}

/** Makes `local@domain` undeliverable for now: its Maildir `new` is a regular file. Returns that file (remove it to fix the mailbox). */
export async function breakMailbox(s: TestServer, domain: string, local: string): Promise<string> {
  const dir = join(s.mailboxDir, domain, local);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'new'), 'not a directory');
  return join(dir, 'new');
}

export { until } from '../testing/until.ts';

/** Waits until the message was tried and deferred (it has a last reply and waits for its next attempt). */
export function deferred(s: TestServer, id: string): Promise<string> {
  return until(`message ${id} to be deferred`, () => {
    const m = s.queue.messages(`maildir:example.com`, 1000, 0).messages.find((x) => x.id === id);
    return m?.lastReply;
  });
}
