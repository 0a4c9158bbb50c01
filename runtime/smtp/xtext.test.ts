// Tests for xtext decoding/encoding (RFC 3461 §4), including a seeded round-trip property test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeXtext, encodeXtext } from './xtext.ts';
import { prng } from '../testing/prng.ts';

test('decodes literal xchars and +HH escapes', () => {
  const rows: [string, string][] = [
    ['', ''],
    ['abc', 'abc'],
    ['<>', '<>'],
    ['!"#$%&\'()*,-./09:;<>?@AZ[\\]^_`az{|}~', '!"#$%&\'()*,-./09:;<>?@AZ[\\]^_`az{|}~'],
    ['a+2Bb', 'a+b'],
    ['+3D', '='],
    ['+20', ' '],
    ['joe+40example.com', 'joe@example.com'],
    ['+0D+0A', '\r\n'], // grammar only; callers reject controls after decoding
    ['+00', '\0'],
    ['+C3+A9', 'é'],
    ['+F0+9F+98+80', '😀'],
    ['+EF+BB+BF', '\uFEFF'], // a leading BOM is data, not stripped
  ];
  for (const [input, expected] of rows) {
    assert.equal(decodeXtext(input), expected, JSON.stringify(input));
  }
});

test('rejects text outside the xtext grammar', () => {
  const rows: string[] = [
    'a b', // space is not an xchar
    'a=b', // '=' must be +3D
    '+', // truncated escape
    '+4',
    'a+',
    '+4G', // not hex
    '+ZZ',
    '+2b', // lowercase hex is not hexchar
    '+c3+a9',
    '+-1',
    '++20',
    'é', // non-ASCII is never an xchar
    '\x7f',
    '\t',
    '\0',
    'a\r\nb',
  ];
  for (const input of rows) {
    assert.equal(decodeXtext(input), null, JSON.stringify(input));
  }
});

test('rejects escapes that decode to invalid UTF-8', () => {
  const rows: string[] = [
    '+C0+AF', // overlong "/"
    '+ED+A0+80', // UTF-16 surrogate
    '+80', // lone continuation byte
    '+E2+82', // truncated sequence
    '+C3', // truncated sequence
    '+FF',
    '+F4+90+80+80', // above U+10FFFF
  ];
  for (const input of rows) {
    assert.equal(decodeXtext(input), null, JSON.stringify(input));
  }
});

test('encodes everything but xchars as +HH over UTF-8 octets', () => {
  const rows: [string, string][] = [
    ['', ''],
    ['abc', 'abc'],
    ['<>', '<>'],
    ['a+b', 'a+2Bb'],
    ['a=b', 'a+3Db'],
    [' ', '+20'],
    ['\r\n', '+0D+0A'],
    ['\0', '+00'],
    ['\x7f', '+7F'],
    ['~!', '~!'],
    ['é', '+C3+A9'],
    ['😀', '+F0+9F+98+80'],
    ['\uD800', '+EF+BF+BD'], // a lone surrogate has no UTF-8 form; it becomes U+FFFD
  ];
  for (const [input, expected] of rows) {
    assert.equal(encodeXtext(input), expected, JSON.stringify(input));
  }
});


function randomCodePoint(next: () => number): number {
  const pick = next();
  if (pick < 0.15) return 0x2b; // '+'
  if (pick < 0.25) return 0x3d; // '='
  if (pick < 0.65) return Math.floor(next() * 0x80); // any ASCII, controls included
  if (pick < 0.75) return 0x80 + Math.floor(next() * 0x780); // two-octet UTF-8
  if (pick < 0.9) {
    const cp = 0x800 + Math.floor(next() * (0x10000 - 0x800)); // three-octet, minus surrogates
    return cp >= 0xd800 && cp <= 0xdfff ? 0xfeff : cp;
  }
  return 0x10000 + Math.floor(next() * 0x100000); // astral
}

const CANONICAL_XTEXT = /^(?:[!-*,-<>-~]|\+[0-9A-F]{2})*$/;

test('round-trips 2000 random strings and always emits canonical xtext', () => {
  const next = prng(0x5eed);
  for (let n = 0; n < 2000; n++) {
    const length = Math.floor(next() * 40);
    let s = '';
    for (let k = 0; k < length; k++) s += String.fromCodePoint(randomCodePoint(next));
    const encoded = encodeXtext(s);
    assert.match(encoded, CANONICAL_XTEXT, JSON.stringify(s));
    assert.equal(decodeXtext(encoded), s, JSON.stringify(s));
    assert.equal(encodeXtext(decodeXtext(encoded) ?? ''), encoded, JSON.stringify(s));
  }
});
