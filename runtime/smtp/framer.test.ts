import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Framer, type FrameEvent } from './framer.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Feeds `input` in pieces of `step` octets and collects the DATA outcome. */
function readData(input: string, step = Infinity): { body: string; end: boolean; error?: string; rest: string } {
  const f = new Framer(512);
  f.startData();
  const bytes = enc.encode(input);
  let body = '';
  let end = false;
  let error: string | undefined;
  const drain = (): void => {
    while (!end && !error) {
      const ev = f.next();
      if (!ev) return;
      if (ev.type === 'content') body += dec.decode(ev.chunk);
      else if (ev.type === 'content-end') end = true;
      else if (ev.type === 'content-error') error = ev.error;
    }
  };
  const size = Number.isFinite(step) ? step : bytes.length;
  for (let i = 0; i < bytes.length && !end && !error; i += size) {
    f.push(bytes.subarray(i, i + size));
    drain();
  }
  let rest = '';
  if (end) {
    const ev = f.next();
    if (ev?.type === 'line') rest = dec.decode(ev.line);
  }
  return error === undefined ? { body, end, rest } : { body, end, error, rest };
}

// chasquid's dotreader table, with CRLF bodies as stored.
const dotTable: [string, string][] = [
  ['abc\r\n.\r\n', 'abc\r\n'],
  ['\r\n.\r\n', '\r\n'],
  ['.\r\n', ''],
  ['abc\r\n.def\r\n.\r\n', 'abc\r\ndef\r\n'],
  ['abc\r\n..def\r\n.\r\n', 'abc\r\n.def\r\n'],
  ['abc\r\n..\r\n.\r\n', 'abc\r\n.\r\n'],
  ['.x\r\n.\r\n', 'x\r\n'],
  ['..\r\n.\r\n', '.\r\n'],
  ['a.\r\n.b\r\n...\r\n.\r\n', 'a.\r\nb\r\n..\r\n'],
];

test('undoes dot-stuffing exactly and ends only at CRLF.CRLF', () => {
  for (const [wire, body] of dotTable) {
    for (const step of [Infinity, 1, 2, 3, 17]) {
      const r = readData(wire, step);
      assert.equal(r.error, undefined, `${JSON.stringify(wire)} step ${step}`);
      assert.equal(r.end, true, `${JSON.stringify(wire)} step ${step}`);
      assert.equal(r.body, body, `${JSON.stringify(wire)} step ${step}`);
    }
  }
});

const smuggling: [string, string][] = [
  ['lflf', 'body\n.\n'],
  ['crcr', 'body\r.\r'],
  ['crlf', 'body\r.\n'],
  ['lfcr', 'body\n.\r'],
  ['lfcrlf', 'body\n.\r\n'],
  ['crlflf', 'body\r\n.\n'],
  ['crcrlf', 'body\r.\r\n'],
  ['crlfcr', 'body\r\n.\rX'],
  ['nullbefore', 'body\r\n\x00.\r\n'],
];

test('refuses every smtpsmug end-of-data variant instead of ending the message', () => {
  for (const [name, bytes] of smuggling) {
    const input = `${bytes}MAIL FROM:<ceo@victim.example>\r\nRCPT TO:<x@y>\r\nDATA\r\nspoof\r\n.\r\n`;
    for (const step of [Infinity, 1, 3]) {
      const r = readData(input, step);
      assert.equal(r.end, false, `${name} step ${step} must not end DATA`);
      assert.ok(r.error, `${name} step ${step} must be refused`);
      assert.ok(!r.body.includes('spoof'), name);
    }
  }
});

test('keeps "\\r\\n.\\r" pending until the next octet decides', () => {
  const f = new Framer(512);
  f.startData();
  f.push(enc.encode('x\r\n.\r'));
  const first = f.next();
  assert.equal(first?.type, 'content');
  assert.equal(f.next(), null);
  f.push(enc.encode('\n'));
  assert.deepEqual(f.next(), { type: 'content-end' });
});

test('returns to command lines after the terminator with pipelined input intact', () => {
  const r = readData('hi\r\n.\r\nQUIT\r\n');
  assert.equal(r.body, 'hi\r\n');
  assert.equal(r.rest, 'QUIT');
});

test('measures the longest text line without the transparency dot', () => {
  const f = new Framer(512);
  f.startData();
  f.push(enc.encode(`${'a'.repeat(998)}\r\n.${'b'.repeat(998)}\r\n${'c'.repeat(999)}\r\n.\r\n`));
  while (f.next()?.type === 'content');
  assert.equal(f.contentStats.longestLine, 1001);
  assert.equal(f.contentStats.bytes, 998 + 2 + 998 + 2 + 999 + 2);
});

function lines(input: string, maxLine = 512, step = Infinity): FrameEvent[] {
  const f = new Framer(maxLine);
  const bytes = enc.encode(input);
  const out: FrameEvent[] = [];
  const size = Number.isFinite(step) ? step : bytes.length;
  for (let i = 0; i < bytes.length; i += size) {
    f.push(bytes.subarray(i, i + size));
    for (let ev = f.next(); ev; ev = f.next()) out.push(ev);
  }
  return out;
}

const show = (evs: FrameEvent[]): string[] =>
  evs.map((e) => (e.type === 'line' ? dec.decode(e.line) : e.type === 'line-error' ? `!${e.error}` : e.type));

test('splits command lines on CRLF only, in any fragmentation', () => {
  for (const step of [Infinity, 1, 2, 5]) {
    assert.deepEqual(show(lines('EHLO a\r\nMAIL FROM:<a@b>\r\n\r\n', 512, step)), ['EHLO a', 'MAIL FROM:<a@b>', '']);
  }
});

test('refuses a bare LF or bare CR in a command and stops framing', () => {
  assert.deepEqual(show(lines('NOOP\nNOOP\r\n')), ['!bare-lf']);
  assert.deepEqual(show(lines('EHLO a\rMAIL FROM:<x@y>\r\n')), ['!bare-cr']);
  assert.deepEqual(show(lines('NOOP\r\r\n')), ['!bare-cr']);
  assert.deepEqual(show(lines('NOOP\r\n\nX\r\n')), ['NOOP', '!bare-lf']);
});

test('accepts a 512-octet command and refuses 513 with bounded buffering', () => {
  const ok = `NOOP ${'x'.repeat(505)}`;
  assert.deepEqual(show(lines(`${ok}\r\n`)), [ok]);
  assert.deepEqual(show(lines(`NOOP ${'x'.repeat(506)}\r\nNOOP\r\n`)), ['!too-long', 'NOOP']);
  const f = new Framer(512);
  for (let i = 0; i < 1000; i++) f.push(enc.encode('y'.repeat(1024)));
  assert.equal(f.next(), null);
  assert.ok(f.pending < 512, `buffered ${f.pending} octets of an endless line`);
  f.push(enc.encode('\r\nNOOP\r\n'));
  assert.deepEqual(show([f.next()!, f.next()!]), ['!too-long', 'NOOP']);
});

test('an overlong line complete in one chunk is refused too', () => {
  assert.deepEqual(show(lines(`NOOP ${'x'.repeat(17000)}\r\nQUIT\r\n`)), ['!too-long', 'QUIT']);
  assert.deepEqual(show(lines(`NOOP ${'x'.repeat(17000)}\r\nQUIT\r\n`, 512, 100)), ['!too-long', 'QUIT']);
});

test('discard() drops plaintext pipelined behind STARTTLS', () => {
  const f = new Framer(512);
  f.push(enc.encode('STARTTLS\r\nRSET\r\n'));
  assert.equal(show([f.next()!])[0], 'STARTTLS');
  assert.ok(f.pending > 0);
  f.discard();
  assert.equal(f.next(), null);
});

test('reads BDAT chunks by length, raw, across CRLF split between chunks', () => {
  const f = new Framer(512);
  f.push(enc.encode('Subject: x\r'));
  f.startBdat(11, true);
  const a = f.next();
  assert.equal(a?.type, 'content');
  assert.deepEqual(f.next(), { type: 'content-end' });
  f.push(enc.encode('\n.body\r\nBDAT'));
  f.startBdat(8, false);
  const b = f.next();
  assert.equal(b?.type === 'content' && dec.decode(b.chunk), '\n.body\r\n');
  assert.deepEqual(f.next(), { type: 'content-end' });
  assert.equal(f.next(), null); // "BDAT" waits for its CRLF
  assert.equal(f.contentStats.bytes, 19);
});

test('refuses bare LF, bare CR and NUL inside BDAT content', () => {
  for (const [bytes, error] of [['a\nb', 'bare-lf'], ['a\rb', 'bare-cr'], ['a\x00b', 'nul']] as const) {
    const f = new Framer(512);
    f.push(enc.encode(bytes));
    f.startBdat(3, true);
    assert.deepEqual(f.next(), { type: 'content-error', error });
  }
  const f = new Framer(512);
  f.push(enc.encode('ab\r'));
  f.startBdat(3, true);
  f.next();
  f.next();
  f.push(enc.encode('x'));
  f.startBdat(1, false);
  assert.deepEqual(f.next(), { type: 'content-error', error: 'bare-cr' });
});

test('refuses NUL in DATA content', () => {
  assert.equal(readData('a\x00b\r\n.\r\n').error, 'nul');
});
