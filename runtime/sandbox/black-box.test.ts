// The sandbox host's black box: what the host writes before each agent is what the server reads after a death.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runtimeName } from '../platform/runtime-info.ts';
import { BLACK_BOX_BYTES, BOX_ERROR_CHARS, BlackBox, BlackBoxWriter } from './black-box.ts';
import type { Step } from './protocol.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs `body` with a writer that maps the file (when the addon is built) and again with one that writes it. */
function withBox(body: (box: BlackBox, writer: BlackBoxWriter) => void): void {
  for (const map of [true, false]) {
    const box = BlackBox.create();
    const writer = new BlackBoxWriter(box.path, { map });
    try {
      body(box, writer);
    } finally {
      writer.close();
      box.remove();
    }
  }
}

test('on Node, the host maps the black box (scripts/ensure-native.mjs built the addon) instead of a system call per agent', () => {
  const box = BlackBox.create();
  try {
    const writer = new BlackBoxWriter(box.path);
    // The sandbox host is always a Node process; other runtimes only read the box.
    if (runtimeName === 'node') assert.equal(writer.mapped, true, 'runtime/sandbox/native/build/Release/shared_page.node loads');
    assert.equal(new BlackBoxWriter(box.path, { map: false }).mapped, false);
    writer.record(1, 'vendor/agent', []);
    assert.equal(box.read()?.agentId, 'vendor/agent');
  } finally {
    box.remove();
  }
});

test('what a host wrote into the mapping is read back after the host aborted (SIGABRT, as V8 does on a fatal out-of-memory)', () => {
  const box = BlackBox.create();
  try {
    const script = `import { BlackBoxWriter } from './runtime/sandbox/black-box.ts';
const writer = new BlackBoxWriter(${JSON.stringify(box.path)});
if (!writer.mapped) { console.error('not mapped'); process.exit(3); }
writer.record(41, 'vendor/first', []);
writer.record(42, 'vendor/first', []);
writer.record(42, 'vendor/second', [{ agentId: 'vendor/first', ms: 2.5, outcome: 'ok' }]);
process.abort();`;
    const run = spawnSync('node', ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
    assert.equal(run.signal, 'SIGABRT', run.stderr);
    const record = box.read();
    assert.deepEqual(record && { ...record, at: 0 }, { id: 42, agentId: 'vendor/second', at: 0, done: [{ agentId: 'vendor/first', ms: 2.5, outcome: 'ok' }] });
  } finally {
    box.remove();
  }
});

test('the last record names the request, the agent about to run and the steps done before it', () => {
  withBox((box, writer) => {
    assert.equal(box.read(), undefined, 'a new box is empty');
    const done: Step[] = [];
    const before = Date.now();
    writer.record(7, 'vendor/first', done);
    done.push({ agentId: 'vendor/first', ms: 1.25, outcome: 'ok' });
    writer.record(7, 'vendor/second', done);
    const record = box.read();
    assert.deepEqual(record && { ...record, at: 0 }, { id: 7, agentId: 'vendor/second', at: 0, done: [{ agentId: 'vendor/first', ms: 1.25, outcome: 'ok' }] });
    assert.ok(record !== undefined && record.at >= before && record.at <= Date.now());
  });
});

test('error texts of done steps survive any characters: quotes, newlines, non-ASCII, lone surrogates', () => {
  withBox((box, writer) => {
    const error = 'TypeError: "x"\n\tat \\ ✉ \u2028 \ud800 end';
    const done: Step[] = [
      { agentId: 'a', ms: 0, outcome: 'error', error },
      { agentId: 'b.c/d-e_f', ms: 12, outcome: 'timeout', error: 'exceeded its budget of 10 ms' },
    ];
    writer.record(1, 'next', done);
    const record = box.read();
    assert.deepEqual(record?.done, JSON.parse(JSON.stringify(done)));
  });
});

test('a shorter record after a longer one reads back as the shorter one, and a new request starts its own steps', () => {
  withBox((box, writer) => {
    const long: Step[] = Array.from({ length: 30 }, (_, i) => ({ agentId: `agent-${i}`, ms: i, outcome: 'ok' as const }));
    writer.record(1, 'agent-30', long);
    writer.record(2, 'other', []);
    const record = box.read();
    assert.deepEqual(record && { ...record, at: 0 }, { id: 2, agentId: 'other', at: 0, done: [] });
  });
});

test('a chain recorded step by step reads back whole; a later, shorter chain is not mixed with its leftovers', () => {
  withBox((box, writer) => {
    const steps = (count: number, tag: string): Step[] => Array.from({ length: count }, (_, i) => ({ agentId: `${tag}-${i}`, ms: i / 4, outcome: 'ok' as const }));
    const first = steps(12, 'a');
    for (let i = 0; i <= first.length; i++) writer.record(5, `a-${i}`, first.slice(0, i));
    assert.deepEqual(box.read()?.done, first);
    assert.equal(box.read()?.agentId, 'a-12');
    // Request 6 rewrites the start of the file; request 5's later lines are still behind it.
    const second = steps(3, 'b');
    for (let i = 0; i <= 2; i++) writer.record(6, `b-${i}`, second.slice(0, i));
    const record = box.read();
    assert.deepEqual(record && { ...record, at: 0 }, { id: 6, agentId: 'b-2', at: 0, done: second.slice(0, 2) });
  });
});

test('a chain too long for the file starts over at its beginning: the agent running and the latest steps read back, error texts cut', () => {
  withBox((box, writer) => {
    const error = 'x'.repeat(900);
    const done: Step[] = [];
    const agents = Math.ceil(BLACK_BOX_BYTES / 200) + 10;
    for (let i = 0; i < agents; i++) {
      writer.record(9, `agent-${i}`, done);
      done.push({ agentId: `agent-${i}`, ms: 1, outcome: 'error', error });
    }
    const record = box.read();
    assert.equal(record?.agentId, `agent-${agents - 1}`);
    const cut = { ms: 1, outcome: 'error', error: `${'x'.repeat(BOX_ERROR_CHARS)}…` };
    const expected = done.slice(0, -1).map((step) => ({ ...step, ...cut }));
    const read = record?.done ?? [];
    assert.ok(read.length > 100, `${read.length} steps read back`);
    assert.deepEqual(read, expected.slice(expected.length - read.length), 'the latest steps, in order, without a gap');
  });
});

test('a record that is torn or not a record is no record, and clear empties the box', () => {
  // The file is rewritten under the writer here, so each writer is made after it (a mapping must
  // never outlive a truncation: the server clears the box only before it starts a new host).
  for (const map of [true, false]) {
    const box = BlackBox.create();
    try {
      writeFileSync(box.path, '{"id":3,"n":0,"agentId":"agent","at":1,"do');
      assert.equal(box.read(), undefined, 'no newline: torn');
      writeFileSync(box.path, '{"id":-1,"n":0,"agentId":"agent","at":1,"done":[]}\n');
      assert.equal(box.read(), undefined, 'fails the schema');
      writeFileSync(box.path, '{"id":3,"n":0,"agentId":"agent","at":1,"done":[{"agentId":"a","ms":1,"outcome":"ok"}]}\n');
      assert.equal(box.read(), undefined, 'more steps than n counts');
      writeFileSync(box.path, '{"id":3,"n":0,"agentId":"a","at":1,"done":[]}\n{"id":3,"n":1,"agentId":"b","at":2,"prev":{"agentId":"a","ms":1,"outcome":"ok"}}\n{"id":3,"n":1,"agentId":"c"');
      assert.equal(box.read()?.agentId, 'b', 'a torn last line is not read; the lines before it are');
      const writer = new BlackBoxWriter(box.path, { map });
      writer.record(4, 'agent', []);
      assert.equal(box.read()?.id, 4);
      writer.close();
      box.clear();
      assert.equal(box.read(), undefined);
    } finally {
      box.remove();
    }
  }
});

test('remove deletes the file and its private directory', () => {
  const box = BlackBox.create();
  assert.ok(existsSync(box.path));
  box.remove();
  assert.equal(existsSync(box.path), false);
  assert.equal(existsSync(path.dirname(box.path)), false);
});
