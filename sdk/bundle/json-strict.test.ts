import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_JSON_DEPTH, parseJsonBytesStrict, parseJsonStrict } from './json-strict.ts';

function errorOf(text: string): string {
  const r = parseJsonStrict(text);
  assert.equal(r.ok, false, `expected ${JSON.stringify(text.slice(0, 60))} to be refused`);
  return r.ok ? '' : r.error;
}

test('parses the same values as JSON.parse for well-formed input', () => {
  const samples = [
    '{"a":[1,-2.5e3,0,1E-2,true,false,null],"b":{"c":"\\u00e9\\n\\"x\\\\"},"":{}}',
    ' [ ] ',
    '"\\ud83d\\ude00"',
    '0',
    '-0',
    '{"constructor":1,"toString":2,"hasOwnProperty":3}',
    '"\\ud800"',
  ];
  for (const text of samples) {
    const r = parseJsonStrict(text);
    assert.ok(r.ok, text);
    assert.deepEqual(r.value, JSON.parse(text));
  }
});

test('refuses a duplicate key at any depth, also when spelled with escapes', () => {
  assert.match(errorOf('{"a":1,"a":2}'), /duplicate key "a" at offset 7/);
  assert.match(errorOf('{"x":{"y":[{"k":1,"k":1}]}}'), /duplicate key "k"/);
  assert.match(errorOf('{"name":"a","n\\u0061me":"b"}'), /duplicate key "name"/);
  assert.match(errorOf('{"constructor":1,"constructor":2}'), /duplicate key "constructor"/);
});

test('refuses __proto__ keys, which would otherwise set a prototype', () => {
  assert.match(errorOf('{"__proto__":{"polluted":true}}'), /forbidden key "__proto__"/);
  assert.match(errorOf('{"a":{"__pro\\u0074o__":1}}'), /forbidden key "__proto__"/);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test(`accepts ${MAX_JSON_DEPTH} levels of nesting and refuses one more`, () => {
  assert.ok(parseJsonStrict('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH)).ok);
  assert.match(errorOf('['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1)), /nesting deeper than 64/);
  assert.match(errorOf('{"a":'.repeat(MAX_JSON_DEPTH + 1) + '1' + '}'.repeat(MAX_JSON_DEPTH + 1)), /nesting deeper/);
  // Deep enough to overflow a naive recursive parser's stack.
  assert.match(errorOf('['.repeat(1_000_000)), /nesting deeper/);
});

test('refuses input that is not exactly one JSON value', () => {
  const bad = ['', ' ', '{', '{"a":1', '{"a":1,}', '[1,]', '[1 2]', '{"a" 1}', '{a:1}', "{'a':1}", '01', '1.', '.5', '+1', '1e', '-',
    'NaN', 'Infinity', '1e999', 'tru', 'nul', 'undefined', '{} {}', '{}x', '"\\x"', '"\\u12"', '"a\nb"', '"unterminated', '\ufeff{}',
    '[1]\u00a0', '/* c */ 1', '{"a":1}\u0000'];
  for (const text of bad) errorOf(text);
  assert.deepEqual(parseJsonStrict(42 as unknown as string), { ok: false, error: 'input is not a string' });
});

test('stays linear on large and adversarial inputs', () => {
  const many = `{${Array.from({ length: 100_000 }, (_, i) => `"k${i}":${i}`).join(',')}}`;
  const wide = `[${'"x",'.repeat(200_000)}"x"]`;
  const escapes = `"${'\\\\'.repeat(200_000)}"`;
  const started = performance.now();
  assert.ok(parseJsonStrict(many).ok);
  assert.ok(parseJsonStrict(wide).ok);
  assert.ok(parseJsonStrict(escapes).ok);
  assert.match(errorOf(`${many.slice(0, -1)},"k99999":0}`), /duplicate key "k99999"/);
  assert.ok(performance.now() - started < 5000);
});

test('parseJsonBytesStrict refuses invalid UTF-8 and a byte-order mark, and parses the rest strictly', () => {
  assert.deepEqual(parseJsonBytesStrict(new Uint8Array([0x7b, 0xff, 0x7d])), { ok: false, error: 'not valid UTF-8' });
  assert.equal(parseJsonBytesStrict(new Uint8Array([0xef, 0xbb, 0xbf, 0x31])).ok, false);
  assert.deepEqual(parseJsonBytesStrict(new TextEncoder().encode('{"é":1}')), { ok: true, value: { é: 1 } });
  assert.equal(parseJsonBytesStrict(new TextEncoder().encode('{"a":1,"a":2}')).ok, false);
});
