// The example's README flow, for real: sluice-agent build → test → keygen → sign → verify, a running
// `sluice serve`, `sluice keys add` → `agents install` → `agents config` → `agents enable` over the
// API, then mail through nodemailer: the allow-listed recipient gets a stamped message, the other 550.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { freePort } from '../../runtime/testing/free-port.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('./', import.meta.url));

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
function serve(args: string[], cwd: string): Promise<{ child: ChildProcess; banner: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [join(ROOT, 'bin', 'sluice.mjs'), 'serve', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no banner within 30 s:\n${out}`)), 30_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('It is delivered to')) {
        clearTimeout(timer);
        resolve({ child, banner: out });
      }
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`sluice serve exited with ${code}:\n${out}`));
    });
  });
}

test('the example agent goes init-style project → build → test → sign → install → enable, and filters real mail', async () => {
  const work = await mkdtemp(join(tmpdir(), 'sluice-example-'));
  let server: ChildProcess | undefined;
  try {
    const project = join(work, 'recipient-allowlist');
    await cp(EXAMPLE, project, { recursive: true, filter: (src) => !/(node_modules|dist|\.test\.ts$)/.test(src) });

    // Vendor side.
    ok(await run('sluice-agent.mjs', ['build'], { cwd: project }), 'build');
    const tested = ok(await run('sluice-agent.mjs', ['test', '--events', 'events/sample.json', '--config', 'config.json'], { cwd: project }), 'test');
    assert.match(tested, /reject 550 5\.1\.1 No such user here: mallory@example\.com/);
    assert.match(tested, /X-Allowlist: checked 1 of 2 recipients/);
    ok(await run('sluice-agent.mjs', ['keygen', '--out', 'vendor'], { cwd: project }), 'keygen');
    ok(await run('sluice-agent.mjs', ['sign', '--key', 'vendor.key'], { cwd: project }), 'sign');
    const bundle = join('dist', 'example-recipient-allowlist-1.0.0.sluice');
    ok(await run('sluice-agent.mjs', ['verify', bundle, '--pub', 'vendor.pub'], { cwd: project }), 'verify');

    // Admin side, against a running server.
    const smtpPort = await freePort();
    const apiPort = await freePort();
    const data = join(work, 'data');
    const started = await serve(['--smtp', `127.0.0.1:${smtpPort}`, '--api', `127.0.0.1:${apiPort}`, '--data', data, '--domain', 'example.com', '--hostname', 'mx.example.com'], work);
    server = started.child;
    assert.match(started.banner, /admin token created in/);
    const env = { SLUICE_API: `127.0.0.1:${apiPort}`, SLUICE_DATA: data };
    const admin = (...args: string[]) => run('sluice.mjs', args, { cwd: project, env });
    ok(await admin('keys', 'add', 'vendor.pub', '--vendor', 'example'), 'keys add');
    ok(await admin('agents', 'install', bundle), 'agents install');
    const badConfig = await admin('agents', 'config', 'example/recipient-allowlist', '{"domains":[]}');
    assert.equal(badConfig.code, 1, 'an invalid config is refused');
    assert.match(badConfig.err, /config/);
    ok(await admin('agents', 'config', 'example/recipient-allowlist', '@config.json'), 'agents config');
    ok(await admin('agents', 'enable', 'example/recipient-allowlist'), 'agents enable');
    assert.match(ok(await admin('agents', 'list'), 'agents list'), /example\/recipient-allowlist/);

    // Mail.
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, ignoreTLS: true });
    const info = await transport.sendMail({ from: 'sender@example.net', to: ['alice@example.com', 'mallory@example.com'], subject: 'hello', text: 'hi alice' });
    transport.close();
    assert.deepEqual(info.accepted, ['alice@example.com']);
    assert.deepEqual(info.rejected, ['mallory@example.com']);
    const inbox = join(data, 'mailboxes', 'example.com', 'alice', 'new');
    let files: string[] = [];
    for (let i = 0; i < 200 && files.length === 0; i++) {
      files = await readdir(inbox).catch(() => []);
      if (files.length === 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(files.length, 1);
    const message = await readFile(join(inbox, files[0] as string), 'latin1');
    assert.match(message, /\r\nX-Allowlist: checked 1 of 1 recipients\r\n/);
    const stats = JSON.parse(ok(await admin('agents', 'stats', 'example/recipient-allowlist', '--json'), 'agents stats')) as { events: Record<string, { calls: number }> };
    assert.equal(stats.events.onRcptTo?.calls, 2);
  } finally {
    if (server?.pid !== undefined && server.exitCode === null) {
      const closed = new Promise((r) => server?.once('close', r));
      server.kill('SIGTERM');
      await closed;
    }
    await rm(work, { recursive: true, force: true });
  }
});
