// The sluice-agent CLI end to end: the real command in a child process (always Node, as vendors run
// it), real files in temp dirs, the real sandbox host behind `test` and `bench`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runtimeName } from '../../runtime/platform/runtime-info.ts';
import { keyIdFor } from '../bundle/signing.ts';

const BIN = fileURLToPath(new URL('../../bin/sluice-agent.mjs', import.meta.url));
const NODE = runtimeName === 'node' ? process.execPath : 'node';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(cwd: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Uint8Array) => (stdout += new TextDecoder().decode(d)));
    child.stderr.on('data', (d: Uint8Array) => (stderr += new TextDecoder().decode(d)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Asserts exit code `code`, showing the output when it differs. */
function exits(run: Run, code: number): Run {
  assert.equal(run.code, code, `exit ${String(run.code)}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  return run;
}

/** A temp dir holding a freshly scaffolded project `acme/stamp` in `project/`. */
async function withProject(work: (root: string, project: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'sluice-agent-cli-'));
  try {
    exits(await cli(root, 'init', 'project', '--name', 'acme/stamp'), 0);
    await work(root, join(root, 'project'));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

type TestResult = { event: string; recipient?: string; ran: boolean; verdict?: { verdict: string; code?: number; enhanced?: string }; headers?: { op: string; name: string; value?: string }[]; outcome?: string; error?: string };

function results(run: Run): TestResult[] {
  return (JSON.parse(run.stdout) as { results: TestResult[] }).results;
}

test('init, build, keygen, sign, verify and test round-trip the scaffolded agent', async () => {
  await withProject(async (root, project) => {
    for (const file of ['package.json', 'tsconfig.json', 'sluice-agent.json', 'src/agent.ts', 'events/sample.json', 'README.md']) {
      assert.ok((await stat(join(project, file))).isFile(), file);
    }
    const again = exits(await cli(root, 'init', 'project'), 1);
    assert.match(again.stderr, /is not empty/);

    const built = exits(await cli(project, 'build'), 0);
    const code = await readFile(join(project, 'dist', 'agent.js'));
    assert.match(built.stdout, new RegExp(`${code.byteLength} bytes, sha256 ${createHash('sha256').update(code).digest('hex')}`));
    const text = code.toString('utf8');
    assert.match(text, /globalThis\.agent = /);
    assert.doesNotMatch(text, /^\s*(import|export)\b/m, 'one script, no module syntax');
    assert.doesNotMatch(text, /valibot/, 'the SDK helpers carry no dependencies into the bundle');

    const keygen = exits(await cli(root, 'keygen', '--out', 'keys-acme'), 0);
    const publicKey = (await readFile(join(root, 'keys-acme.pub'), 'utf8')).trim();
    assert.equal(Buffer.from(publicKey, 'base64').byteLength, 32);
    assert.match(keygen.stdout, new RegExp(`key id ${keyIdFor(publicKey)}`));
    assert.equal((await stat(join(root, 'keys-acme.key'))).mode & 0o777, 0o600);
    assert.match(await readFile(join(root, 'keys-acme.key'), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    exits(await cli(root, 'keygen', '--out', 'keys-acme'), 1);

    exits(await cli(project, 'sign', '--key', '../keys-acme.key'), 0);
    const bundle = join(project, 'dist', 'acme-stamp-0.1.0.sluice');
    const verified = exits(await cli(project, 'verify', bundle, '--pub', '../keys-acme.pub', '--vendor', 'acme'), 0);
    assert.match(verified.stdout, /^OK: acme\/stamp 0\.1\.0 \(receive agent\)/);
    assert.match(verified.stdout, new RegExp(`signed by key ${keyIdFor(publicKey)}, allowed for acme`));
    assert.match(verified.stdout, /events: onRcptTo 20 ms, onEndOfData 50 ms/);

    const expectSample = (rows: TestResult[]): void => {
      assert.deepEqual(rows.map((r) => [r.event, r.verdict?.verdict, r.outcome]), [
        ['onRcptTo', 'continue', 'ok'],
        ['onRcptTo', 'reject', 'ok'],
        ['onEndOfData', 'continue', 'ok'],
      ]);
      assert.deepEqual([rows[1]?.verdict?.code, rows[1]?.verdict?.enhanced], [550, '5.7.1']);
      assert.deepEqual(rows[2]?.headers, [{ op: 'add', name: 'X-Stamp', value: 'acme/stamp saw 1 recipient' }]);
    };
    expectSample(results(exits(await cli(project, 'test', '--json'), 0)));
    expectSample(results(exits(await cli(project, 'test', '--json', '--bundle', bundle, '--pub', '../keys-acme.pub'), 0)));

    const table = exits(await cli(project, 'test'), 0).stdout;
    assert.match(table, /^2\s+onRcptTo\s+reject 550 5\.7\.1 Recipient blocked by policy\s+ok\s+[\d.]+\s+20$/m);
    assert.match(table, /3 events run: 3 ok, 0 failed/);
  });
});

test('build fails naming node:fs and the importing file, and a runtime global with its line', async () => {
  await withProject(async (_root, project) => {
    await writeFile(
      join(project, 'src', 'helper.ts'),
      "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\nexport const where = (): string =>\n  Deno.cwd();\n",
    );
    const source = await readFile(join(project, 'src', 'agent.ts'), 'utf8');
    await writeFile(join(project, 'src', 'agent.ts'), `import { read, where } from './helper.ts';\nvoid read; void where;\n${source}`);
    const run = exits(await cli(project, 'build'), 1);
    assert.match(run.stderr, /src\/helper\.ts:1:\d+: cannot import "node:fs": a Node built-in/);
    assert.match(run.stderr, /src\/helper\.ts:4:2: uses the Deno global/);
    await assert.rejects(stat(join(project, 'dist', 'agent.js')), 'nothing is written');

    await writeFile(join(project, 'src', 'agent.ts'), 'export const notDefault = 1;\n');
    assert.match(exits(await cli(project, 'build'), 1).stderr, /src\/agent\.ts: has no default export/);
  });
});

test('verify refuses a tampered bundle, a wrong key and a key scoped to another vendor, each with its code', async () => {
  await withProject(async (root, project) => {
    exits(await cli(project, 'build'), 0);
    exits(await cli(root, 'keygen', '--out', 'acme'), 0);
    exits(await cli(root, 'keygen', '--out', 'stranger'), 0);
    exits(await cli(project, 'sign', '--key', '../acme.key', '--out', '../good.sluice'), 0);
    const good = await readFile(join(root, 'good.sluice'));

    const code = Buffer.from(good);
    const at = code.indexOf('Recipient blocked by policy');
    code[at] = code[at]! ^ 0x20;
    await writeFile(join(root, 'code.sluice'), code);
    const manifest = Buffer.from(good);
    manifest[manifest.indexOf('"memoryMiB":32') + 12] = '6'.charCodeAt(0);
    await writeFile(join(root, 'manifest.sluice'), manifest);

    const refused = async (file: string, pub: string, code: string, ...extra: string[]): Promise<void> => {
      const run = exits(await cli(root, 'verify', file, '--pub', pub, ...extra), 1);
      assert.match(run.stderr, new RegExp(`refused: ${code}: `), run.stderr);
      assert.doesNotMatch(run.stdout, /^OK/);
    };
    await refused('code.sluice', 'acme.pub', 'CODE_MISMATCH');
    await refused('manifest.sluice', 'acme.pub', 'BAD_SIGNATURE');
    await refused('good.sluice', 'stranger.pub', 'UNKNOWN_KEY');
    await refused('good.sluice', 'acme.pub', 'VENDOR_NOT_ALLOWED', '--vendor', 'globex');
    const json = JSON.parse(exits(await cli(root, 'verify', 'good.sluice', '--pub', 'acme.pub', '--json'), 0).stdout) as { ok: boolean; manifest: { memoryMiB: number } };
    assert.deepEqual([json.ok, json.manifest.memoryMiB], [true, 32]);
  });
});

test('test runs an .eml as one SMTP session: the refused recipient is left out of the envelope', async () => {
  await withProject(async (_root, project) => {
    const eml = [
      'Return-Path: <bounce@example.org>',
      'From: "Ann, Sales" <ann@example.org>',
      'To: Bob <bob@example.com>, blocked@example.com',
      'Cc: carol@example.com',
      'Subject: hello',
      '',
      'Hi.',
      '',
    ].join('\n');
    await writeFile(join(project, 'hello.eml'), eml);
    const rows = results(exits(await cli(project, 'test', '--eml', 'hello.eml', '--json'), 0));
    assert.deepEqual(
      rows.map((r) => [r.event, r.recipient ?? null, r.ran, r.verdict?.verdict ?? null]),
      [
        ['onConnect', null, false, null],
        ['onEhlo', null, false, null],
        ['onMailFrom', null, false, null],
        ['onRcptTo', 'bob@example.com', true, 'continue'],
        ['onRcptTo', 'blocked@example.com', true, 'reject'],
        ['onRcptTo', 'carol@example.com', true, 'continue'],
        ['onData', null, false, null],
        ['onEndOfHeaders', null, false, null],
        ['onEndOfData', null, true, 'continue'],
      ],
    );
    assert.equal(rows[8]?.headers?.[0]?.value, 'acme/stamp saw 2 recipients');

    const none = results(exits(await cli(project, 'test', '--eml', 'hello.eml', '--to', 'blocked@example.com', '--json'), 0));
    assert.deepEqual(none.map((r) => r.ran), [false, false, false, true, false, false, false]);
  });
});

test('test exits 1 and reports the outcome when a handler throws or overruns its budget', async () => {
  await withProject(async (_root, project) => {
    await writeFile(
      join(project, 'src', 'agent.ts'),
      "import { defineReceiveAgent } from 'sluice/sdk';\nexport default defineReceiveAgent({\n  onRcptTo(event) {\n    if (event.recipient.startsWith('loop')) for (;;) {}\n    throw new Error('no ' + event.recipient);\n  },\n});\n",
    );
    await writeFile(
      join(project, 'events', 'bad.json'),
      JSON.stringify([
        { event: 'onRcptTo', payload: { recipient: 'x@example.com' } },
        { event: 'onRcptTo', payload: { recipient: 'loop@example.com' } },
        { event: 'onConnect', payload: {} },
      ]),
    );
    const run = exits(await cli(project, 'test', '--events', 'events/bad.json', '--json'), 1);
    const rows = results(run);
    assert.deepEqual(rows.map((r) => [r.outcome ?? null, r.verdict?.verdict ?? null]), [['error', 'tempfail'], ['timeout', 'tempfail'], [null, null]]);
    assert.match(rows[0]?.error ?? '', /Error: no x@example\.com/);
    assert.equal(rows[2]?.ran, false, 'an event the manifest does not subscribe to is not run');

    await writeFile(join(project, 'events', 'typo.json'), JSON.stringify([{ event: 'onRcpt', payload: {} }]));
    assert.match(exits(await cli(project, 'test', '--events', 'events/typo.json'), 1).stderr, /\[0\]\.event: "onRcpt" is not a receive event/);
  });
});

test('bench reports p50, p99 and max per subscribed event against its budget', async () => {
  await withProject(async (_root, project) => {
    const run = exits(await cli(project, 'bench', '--iterations', '40'), 0);
    const lines = run.stdout.split('\n');
    assert.match(lines[1] ?? '', /^event\s+p50 µs\s+p99 µs\s+max µs\s+budget\s+status$/);
    assert.match(lines[2] ?? '', /^onRcptTo\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d\s+20 ms\s+(OK|OVER BUDGET)$/);
    assert.match(lines[3] ?? '', /^onEndOfData\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d\s+50 ms\s+(OK|OVER BUDGET)$/);

    const json = JSON.parse(exits(await cli(project, 'bench', '--iterations', '20', '--json'), 0).stdout) as {
      iterations: number;
      events: { event: string; p50Us: number; p99Us: number; maxUs: number; failures: number }[];
    };
    assert.equal(json.iterations, 20);
    assert.deepEqual(json.events.map((e) => e.event), ['onRcptTo', 'onEndOfData']);
    for (const e of json.events) {
      assert.ok(e.p50Us > 0 && e.p50Us <= e.p99Us && e.p99Us <= e.maxUs, JSON.stringify(e));
      assert.equal(e.failures, 0);
    }
  });
});

test('a bad command line exits 2 naming the option; a bad manifest exits 1 with one line per field', async () => {
  await withProject(async (root, project) => {
    assert.match(exits(await cli(project, 'build', '--outt', 'x.js'), 2).stderr, /--outt/);
    assert.match(exits(await cli(project, 'sign'), 2).stderr, /sign needs --key/);
    assert.match(exits(await cli(root, 'init', 'other', '--name', 'Acme/Stamp'), 2).stderr, /--name: expected "vendor\/agent"/);
    assert.match(exits(await cli(project, 'bench', '--iterations', 'many'), 2).stderr, /--iterations: expected a whole number/);
    assert.match(exits(await cli(project, 'frobnicate'), 2).stderr, /unknown command "frobnicate"/);
    assert.match(exits(await cli(project, 'verify', '--help'), 0).stdout, /^Usage: sluice-agent verify/);

    const file = join(project, 'sluice-agent.json');
    const draft = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    await writeFile(file, JSON.stringify({ ...draft, memoryMiB: 4096, budgets: { onRcptTo: 20 }, colour: 'red' }));
    const run = exits(await cli(project, 'build'), 1);
    assert.match(run.stderr, /^ {2}memoryMiB: Invalid value: Expected <=512 but received 4096$/m);
    assert.match(run.stderr, /^ {2}budgets: Invalid budgets: expected exactly one budget per subscribed event$/m);
    assert.match(run.stderr, /^ {2}colour: unknown field$/m);
  });
});
