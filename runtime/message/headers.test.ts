import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { applyHeaderEdits, headerSectionEnd, parseHeaders } from './headers.ts';

const MSG = 'Received: from a\r\n\tby b; Mon, 23 Nov 2026 10:00:00 +0000\r\nSubject: hello\r\n  world\r\nX-Tag: one\r\nx-tag: two\r\nnot a field\r\nFrom: a@example.com\r\n\r\nbody line\r\nX-Tag: in the body\r\n';

const edit = (message: string, edits: Parameters<typeof applyHeaderEdits>[1]): string => {
  const r = applyHeaderEdits(Buffer.from(message, 'latin1'), edits);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return Buffer.concat(r.message).toString('latin1');
};

test('parses fields in order, unfolded, and never reads into the body', () => {
  assert.deepEqual(parseHeaders(Buffer.from(MSG)), [
    { name: 'Received', value: 'from a\tby b; Mon, 23 Nov 2026 10:00:00 +0000' },
    { name: 'Subject', value: 'hello  world' },
    { name: 'X-Tag', value: 'one' },
    { name: 'x-tag', value: 'two' },
    { name: 'From', value: 'a@example.com' },
  ]);
});

test('reads UTF-8 header values (RFC 6532)', () => {
  assert.deepEqual(parseHeaders(Buffer.from('Subject: café\r\n\r\nx\r\n', 'utf8')), [{ name: 'Subject', value: 'café' }]);
});

test('finds the end of the header section, with or without a body', () => {
  assert.deepEqual(headerSectionEnd(Buffer.from('A: b\r\n\r\nbody')), { fieldsEnd: 6, bodyStart: 8 });
  assert.deepEqual(headerSectionEnd(Buffer.from('\r\nbody')), { fieldsEnd: 0, bodyStart: 2 });
  assert.deepEqual(headerSectionEnd(Buffer.from('A: b\r\n')), { fieldsEnd: 6, bodyStart: 6 });
});

test('add appends at the end of the header section; the body is untouched', () => {
  const out = edit(MSG, [{ op: 'add', name: 'X-Scanned', value: 'yes' }]);
  assert.ok(out.includes('From: a@example.com\r\nX-Scanned: yes\r\n\r\nbody line\r\nX-Tag: in the body\r\n'));
  assert.equal(out.length, MSG.length + 'X-Scanned: yes\r\n'.length);
});

test('set replaces the first field of the name (any case) and removes the rest; absent, it appends', () => {
  const out = edit(MSG, [{ op: 'set', name: 'X-TAG', value: 'only' }]);
  assert.deepEqual(
    parseHeaders(Buffer.from(out, 'latin1')).filter((f) => f.name.toLowerCase() === 'x-tag'),
    [{ name: 'X-TAG', value: 'only' }],
  );
  assert.ok(out.endsWith('\r\n\r\nbody line\r\nX-Tag: in the body\r\n'), 'the body keeps its own X-Tag line');
  assert.ok(edit(MSG, [{ op: 'set', name: 'X-New', value: '1' }]).includes('From: a@example.com\r\nX-New: 1\r\n\r\n'));
});

test('remove drops every field of the name, folded lines included; other lines stay byte for byte', () => {
  const out = edit(MSG, [{ op: 'remove', name: 'subject' }, { op: 'remove', name: 'x-tag' }]);
  assert.equal(out, 'Received: from a\r\n\tby b; Mon, 23 Nov 2026 10:00:00 +0000\r\nnot a field\r\nFrom: a@example.com\r\n\r\nbody line\r\nX-Tag: in the body\r\n');
});

test('trace fields cannot be changed or removed, only added to', () => {
  for (const e of [{ op: 'remove', name: 'Received' }, { op: 'set', name: 'return-path', value: '<x@y>' }] as const) {
    const r = applyHeaderEdits(Buffer.from(MSG), [e]);
    assert.equal(r.ok, false);
  }
  assert.ok(edit(MSG, [{ op: 'add', name: 'Received', value: 'from agent' }]).includes('Received: from agent\r\n'));
});

test('a header-only message without a final CRLF gains one before an added field', () => {
  assert.equal(edit('Subject: x', [{ op: 'add', name: 'X-A', value: '1' }]), 'Subject: x\r\nX-A: 1\r\n');
  assert.equal(edit('\r\nbody\r\n', [{ op: 'add', name: 'X-A', value: '1' }]), 'X-A: 1\r\n\r\nbody\r\n');
});

test('edits apply in order and no edits return the message as it was', () => {
  assert.equal(edit(MSG, []), MSG);
  const out = edit('A: 1\r\n\r\nb', [{ op: 'add', name: 'B', value: '2' }, { op: 'set', name: 'B', value: '3' }, { op: 'remove', name: 'A' }]);
  assert.equal(out, 'B: 3\r\n\r\nb');
});
