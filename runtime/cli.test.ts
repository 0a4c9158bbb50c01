import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tsEntryCommand } from './platform/runtime-info.ts';
import { parseHash, PasswordTable } from './smtp/password.ts';

const ENTRY = new URL('./testing/serve-entry.ts', import.meta.url);

function run(args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { command, args: pre } = tsEntryCommand(ENTRY);
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...pre, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

test('serve refuses to start with an invalid config file and names the field', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-cli-'));
  try {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ smtp: { limits: { messageSize: 'big' } } }));
    const r = await run(['serve', '--config', file, '--data', join(dir, 'data')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /smtp\.limits\.messageSize: Invalid type: Expected number but received "big"/);
    assert.doesNotMatch(r.stdout, /ready/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('unknown options and commands exit 2 with a message', async () => {
  const r = await run(['serve', '--smpt', '127.0.0.1:25']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--smpt/);
  const u = await run(['frobnicate']);
  assert.equal(u.code, 2);
  assert.match(u.stderr, /unknown command "frobnicate"/);
});

test('hash-password reads standard input and prints a hash the server accepts', async () => {
  const r = await run(['hash-password'], 'correct horse\n');
  assert.equal(r.code, 0);
  const hash = r.stdout.trim();
  assert.ok(parseHash(hash), hash);
  const table = new PasswordTable([{ name: 'u', password: hash }]);
  assert.equal(await table.verify('u', 'correct horse'), true);
  assert.equal(await table.verify('u', 'correct horse\n'), false);
});
