import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { headerField, oneLine, wrapText } from './message-lines.ts';

const lines = (s: string): string[] => {
  assert.ok(s.endsWith('\r\n'));
  return s.slice(0, -2).split('\r\n');
};
const unfold = (s: string): string => s.replace(/\r\n$/, '').replace(/\r\n(?=[ \t])/g, '');

test('a short field is one line', () => {
  assert.equal(headerField('Status', '5.1.1'), 'Status: 5.1.1\r\n');
});

test('a long field folds before spaces near 78 octets and unfolds to itself', () => {
  const value = Array.from({ length: 60 }, (_, i) => `w${i}`).join(' ');
  const out = headerField('Diagnostic-Code', value);
  const ls = lines(out);
  assert.ok(ls.length > 3);
  assert.ok(ls.every((l) => l.length <= 78), ls.join('\n'));
  assert.ok(ls.slice(1).every((l) => l.startsWith(' ') && l.trim() !== ''), 'continuations start with the space they broke at');
  assert.equal(unfold(out), `Diagnostic-Code: ${value}`);
});

test('the value starts on the name line, however long its first word', () => {
  const address = `${'a'.repeat(120)}@example.net`;
  assert.equal(headerField('To', `<${address}>`), `To: <${address}>\r\n`);
  assert.equal(headerField('Final-Recipient', `rfc822; ${address}`), `Final-Recipient: rfc822;\r\n ${address}\r\n`);
});

test('a field given a wider width stays on one line up to it', () => {
  const address = `${'a'.repeat(900)}@example.net`;
  assert.equal(headerField('Final-Recipient', `rfc822; ${address}`, 998), `Final-Recipient: rfc822; ${address}\r\n`);
  const longer = `${'a'.repeat(1000)}@example.net`;
  assert.equal(headerField('Final-Recipient', `rfc822; ${longer}`, 998), `Final-Recipient: rfc822;\r\n ${longer.slice(0, 997)}\r\n ${longer.slice(997)}\r\n`);
});

test('runs of spaces are never folded into a whitespace-only line', () => {
  const out = headerField('X', `a${' '.repeat(200)}b ${'c'.repeat(70)} d`);
  assert.ok(lines(out).every((l) => l.trim() !== ''));
  assert.equal(unfold(out), `X: a${' '.repeat(200)}b ${'c'.repeat(70)} d`);
});

test('a run without whitespace over 998 octets is cut, counting UTF-8 octets', () => {
  const out = headerField('Diagnostic-Code', `smtp; ${'é'.repeat(1500)}`);
  const ls = lines(out);
  assert.ok(ls.length >= 3);
  assert.ok(ls.every((l) => Buffer.byteLength(l) <= 998), ls.map((l) => Buffer.byteLength(l)).join());
  assert.equal(unfold(out).replace(/ /g, ''), `Diagnostic-Code:smtp;${'é'.repeat(1500)}`, 'no character is lost or split');
});

test('oneLine turns CR/LF runs into one space and masks controls and, unless allowed, non-ASCII', () => {
  assert.equal(oneLine('550-a\r\n550 b\n\rc\rd', false), '550-a 550 b c d');
  assert.equal(oneLine('\ta\u0000b\u007fc\u0085d ', false), 'a?b?c?d');
  assert.equal(oneLine('Grüße 😀', false), 'Gr??e ?');
  assert.equal(oneLine('Grüße 😀', true), 'Grüße 😀');
  assert.equal(oneLine('lone \ud800 surrogate', true), 'lone ? surrogate');
});

test('wrapText wraps prose at the width and indents continuation lines', () => {
  const text = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
  const ls = lines(wrapText(text, 40, '    '));
  assert.ok(ls.every((l) => l.length <= 40));
  assert.ok(ls.slice(1).every((l) => l.startsWith('    ') && !l.startsWith('     ')));
  assert.equal(ls.map((l) => l.trim()).join(' '), text);
  assert.equal(wrapText(''), '\r\n');
  const long = lines(wrapText(`x ${'y'.repeat(2500)}`, 76, '    '));
  assert.ok(long.every((l) => Buffer.byteLength(l) <= 998));
});
