// The sandbox host's black box: what the host writes before each agent is what the server reads after a death.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BlackBox, BlackBoxWriter } from './black-box.ts';
import type { Step } from './protocol.ts';

function withBox(body: (box: BlackBox, writer: BlackBoxWriter) => void): void {
  const box = BlackBox.create();
  const writer = new BlackBoxWriter(box.path);
  try {
    body(box, writer);
  } finally {
    writer.close();
    box.remove();
  }
}

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

test('a record that is torn or not a record is no record, and clear empties the box', () => {
  withBox((box, writer) => {
    writer.record(3, 'agent', []);
    writeFileSync(box.path, '{"id":3,"agentId":"agent","at":1,"do');
    assert.equal(box.read(), undefined, 'no newline: torn');
    writeFileSync(box.path, '{"id":-1,"agentId":"agent","at":1,"done":[]}\n');
    assert.equal(box.read(), undefined, 'fails the schema');
    writer.record(4, 'agent', []);
    assert.equal(box.read()?.id, 4);
    box.clear();
    assert.equal(box.read(), undefined);
  });
});

test('remove deletes the file and its private directory', () => {
  const box = BlackBox.create();
  assert.ok(existsSync(box.path));
  box.remove();
  assert.equal(existsSync(box.path), false);
  assert.equal(existsSync(path.dirname(box.path)), false);
});
