// Tests for MAIL FROM / RCPT TO ESMTP parameter parsing (SIZE, BODY, SMTPUTF8, DSN, AUTH).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePath } from './address.ts';
import type { MailParams, ParamCaps, ParamErrorKind, RcptParams } from './params.ts';
import { parseMailParams, parseRcptParams } from './params.ts';

const ALL: ParamCaps = { maxSize: 1024, smtputf8: true, chunking: true, dsn: true, auth: true };
const NONE: ParamCaps = { maxSize: 1024, smtputf8: false, chunking: false, dsn: false, auth: false };

type Rejected = { error: ParamErrorKind; param: string; message?: string };

function err(error: ParamErrorKind, param: string, message?: string): Rejected {
  return message === undefined ? { error, param } : { error, param, message };
}

type Result = { ok: true; params: unknown } | { ok: false; error: { kind: string; param: string; message: string } };

function checkOne(label: string, got: Result, expected: object): void {
  if ('error' in expected) {
    const want = expected as Rejected;
    assert.equal(got.ok, false, `${label} should be rejected`);
    if (got.ok) return;
    assert.equal(got.error.kind, want.error, `${label}: ${got.error.message}`);
    assert.equal(got.error.param, want.param, label);
    if (want.message !== undefined) assert.equal(got.error.message, want.message, label);
    if (want.error !== 'syntax' || /^[A-Z0-9-]+$/.test(want.param)) {
      assert.ok(got.error.message.includes(want.param), `${label}: message names ${want.param}`);
    }
  } else {
    assert.equal(got.ok, true, `${label}: ${got.ok ? '' : got.error.message}`);
    if (got.ok) assert.deepEqual(got.params, expected, label);
  }
}

function checkMail(rows: [rest: string, caps: ParamCaps, expected: MailParams | Rejected][]): void {
  for (const [rest, caps, expected] of rows) {
    checkOne(`MAIL ${JSON.stringify(rest)}`, parseMailParams(rest, caps), expected);
  }
}

function checkRcpt(rows: [rest: string, caps: Pick<ParamCaps, 'dsn'>, expected: RcptParams | Rejected][]): void {
  for (const [rest, caps, expected] of rows) {
    checkOne(`RCPT ${JSON.stringify(rest)}`, parseRcptParams(rest, caps), expected);
  }
}

test('accepts each MAIL parameter the server offers', () => {
  checkMail([
    ['', NONE, { smtputf8: false }],
    ['   ', NONE, { smtputf8: false }],
    ['SIZE=1024', NONE, { smtputf8: false, size: 1024 }],
    ['SIZE=0', NONE, { smtputf8: false, size: 0 }],
    ['size=10', NONE, { smtputf8: false, size: 10 }],
    ['SIZE=00000000000000000010', NONE, { smtputf8: false, size: 10 }], // 20 digits, leading zeros
    ['BODY=8BITMIME', NONE, { smtputf8: false, body: '8BITMIME' }],
    ['body=7bit', NONE, { smtputf8: false, body: '7BIT' }],
    ['Body=8BitMime', NONE, { smtputf8: false, body: '8BITMIME' }],
    ['SMTPUTF8', ALL, { smtputf8: true }],
    ['smtputf8', ALL, { smtputf8: true }],
    ['RET=full', ALL, { smtputf8: false, ret: 'FULL' }],
    ['RET=HDRS', ALL, { smtputf8: false, ret: 'HDRS' }],
    ['ENVID=QQ314159', ALL, { smtputf8: false, envid: 'QQ314159' }],
    ['ENVID=abc+2Bdef', ALL, { smtputf8: false, envid: 'abc+def' }],
    ['ENVID=a+20b', ALL, { smtputf8: false, envid: 'a b' }],
    [`ENVID=${'a'.repeat(100)}`, ALL, { smtputf8: false, envid: 'a'.repeat(100) }],
    [`ENVID=${'+41'.repeat(100)}`, ALL, { smtputf8: false, envid: 'A'.repeat(100) }], // limit is on the decoded value
    ['AUTH=<>', ALL, { smtputf8: false, auth: '<>' }],
    ['AUTH=joe+40example.com', ALL, { smtputf8: false, auth: 'joe@example.com' }],
    ['AUTH=e+3Dmc2@example.com', ALL, { smtputf8: false, auth: 'e=mc2@example.com' }],
    ['AUTH=pel+C3+A9@example.com', ALL, { smtputf8: false, auth: 'pelé@example.com' }],
    [
      '  SIZE=100   BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x AUTH=<>  ',
      ALL,
      { smtputf8: true, size: 100, body: '8BITMIME', ret: 'HDRS', envid: 'x', auth: '<>' },
    ],
  ]);
});

test('rejects SIZE above the limit with size-exceeded and never wraps around', () => {
  const unlimited: ParamCaps = { ...NONE, maxSize: Number.POSITIVE_INFINITY };
  checkMail([
    ['SIZE=2048', NONE, err('size-exceeded', 'SIZE', 'SIZE 2048 exceeds the maximum message size of 1024')],
    ['SIZE=1025', NONE, err('size-exceeded', 'SIZE')],
    ['SIZE=99999999999999999999', NONE, err('size-exceeded', 'SIZE')], // 20 digits
    ['SIZE=18446744073709551617', NONE, err('size-exceeded', 'SIZE')], // 2^64 + 1
    ['SIZE=9007199254740993', unlimited, err('size-exceeded', 'SIZE')], // 2^53 + 1 is not exact
    ['SIZE=9007199254740991', unlimited, { smtputf8: false, size: 9007199254740991 }],
    ['SIZE=123', unlimited, { smtputf8: false, size: 123 }],
  ]);
});

test('rejects SIZE values that are not 1 to 20 decimal digits', () => {
  const message = 'SIZE must be 1 to 20 decimal digits';
  checkMail([
    ['SIZE=-1', NONE, err('syntax', 'SIZE', message)],
    ['SIZE=abc', NONE, err('syntax', 'SIZE', message)],
    ['SIZE=1e308', NONE, err('syntax', 'SIZE', message)],
    ['SIZE=0x10', NONE, err('syntax', 'SIZE', message)],
    ['SIZE=NaN', NONE, err('syntax', 'SIZE', message)],
    ['SIZE=Infinity', NONE, err('syntax', 'SIZE', message)],
    ['SIZE=+1', NONE, err('syntax', 'SIZE', message)],
    ['SIZE=1.5', NONE, err('syntax', 'SIZE', message)],
    ['SIZE=1_000', NONE, err('syntax', 'SIZE', message)],
    ['SIZE=99999999999999999999999', NONE, err('syntax', 'SIZE', message)], // 23 digits
    ['SIZE=000000000000000000001', NONE, err('syntax', 'SIZE', message)], // 21 digits
    ['SIZE=１２', NONE, err('syntax', 'SIZE')], // fullwidth digits
    ['SIZE=', NONE, err('syntax', 'SIZE')],
    ['SIZE', NONE, err('syntax', 'SIZE', 'SIZE requires a value')],
  ]);
});

test('accepts BODY=7BIT and 8BITMIME only', () => {
  checkMail([
    ['BODY=FOO', NONE, err('syntax', 'BODY', 'BODY must be 7BIT or 8BITMIME')],
    ['BODY=', NONE, err('syntax', 'BODY')],
    ['BODY', NONE, err('syntax', 'BODY', 'BODY requires a value')],
    ['BODY=8BIT', NONE, err('syntax', 'BODY')],
    ['BODY=BINARYMIME', ALL, err('unsupported-value', 'BODY', 'BODY=BINARYMIME is not supported')],
    ['BODY=binarymime', NONE, err('unsupported-value', 'BODY')],
  ]);
});

test('accepts SMTPUTF8 only when offered and only without a value', () => {
  checkMail([
    ['SMTPUTF8=yes', ALL, err('syntax', 'SMTPUTF8', 'SMTPUTF8 takes no value')],
    ['SMTPUTF8=', ALL, err('syntax', 'SMTPUTF8')],
    ['SMTPUTF8', NONE, err('unknown', 'SMTPUTF8', 'unrecognized parameter SMTPUTF8')],
  ]);
});

test('rejects ENVID that is not xtext or decodes to controls', () => {
  checkMail([
    ['ENVID=ab+0D+0Acd', ALL, err('syntax', 'ENVID', 'ENVID must decode to printable ASCII (no control characters)')],
    ['ENVID=a+00', ALL, err('syntax', 'ENVID')],
    ['ENVID=a+09b', ALL, err('syntax', 'ENVID')],
    ['ENVID=a+7F', ALL, err('syntax', 'ENVID')],
    ['ENVID=+C3+A9', ALL, err('syntax', 'ENVID')], // printable ASCII only
    ['ENVID=a+2b', ALL, err('syntax', 'ENVID', 'ENVID value is not valid xtext')], // lowercase hex
    ['ENVID=a+', ALL, err('syntax', 'ENVID', 'ENVID value is not valid xtext')],
    ['ENVID=+C0+AF', ALL, err('syntax', 'ENVID', 'ENVID value is not valid xtext')],
    ['ENVID=a=b', ALL, err('syntax', 'ENVID')],
    ['ENVID=', ALL, err('syntax', 'ENVID')],
    ['ENVID', ALL, err('syntax', 'ENVID')],
    [`ENVID=${'a'.repeat(101)}`, ALL, err('syntax', 'ENVID', 'ENVID is longer than 100 characters')],
    ['ENVID=x', NONE, err('unknown', 'ENVID')],
  ]);
});

test('rejects AUTH values that decode to controls or invisible characters', () => {
  checkMail([
    ['AUTH=a+0Ab', ALL, err('syntax', 'AUTH', 'AUTH value contains control character U+000A at offset 1 after xtext decoding')],
    ['AUTH=<x+0AX-Evil:+201>', ALL, err('syntax', 'AUTH')], // Exim CVE-2020-28021 shape
    ['AUTH=a+0D+0AX-Inject:+20x@b', ALL, err('syntax', 'AUTH')],
    ['AUTH=a+00@b', ALL, err('syntax', 'AUTH')],
    ['AUTH=a+C2+85@b', ALL, err('syntax', 'AUTH')], // NEL, a C1 control
    ['AUTH=a+E2+80+8B@b', ALL, err('syntax', 'AUTH')], // U+200B
    ['AUTH=a+ED+A0+80@b', ALL, err('syntax', 'AUTH', 'AUTH value is not valid xtext')],
    ['AUTH=a+0a@b', ALL, err('syntax', 'AUTH', 'AUTH value is not valid xtext')],
    ['AUTH=', ALL, err('syntax', 'AUTH')],
    ['AUTH', ALL, err('syntax', 'AUTH')],
    ['AUTH=<>', NONE, err('unknown', 'AUTH')],
  ]);
});

test('accepts RET=FULL or HDRS only when DSN is offered', () => {
  checkMail([
    ['RET=FOO', ALL, err('syntax', 'RET', 'RET must be FULL or HDRS')],
    ['RET=', ALL, err('syntax', 'RET')],
    ['RET', ALL, err('syntax', 'RET')],
    ['RET=FULL', NONE, err('unknown', 'RET')],
  ]);
});

test('rejects a MAIL parameter given twice, whatever its case or value', () => {
  checkMail([
    ['SIZE=1 SIZE=2', ALL, err('duplicate', 'SIZE', 'SIZE given more than once')],
    ['size=1 SIZE=1', ALL, err('duplicate', 'SIZE')],
    ['SMTPUTF8 SMTPUTF8', ALL, err('duplicate', 'SMTPUTF8')],
    ['BODY=7BIT BODY=8BITMIME', ALL, err('duplicate', 'BODY')],
    ['RET=FULL RET=HDRS', ALL, err('duplicate', 'RET')],
    ['ENVID=a ENVID=a', ALL, err('duplicate', 'ENVID')],
    ['AUTH=<> auth=<>', ALL, err('duplicate', 'AUTH')],
  ]);
});

test('reports unknown MAIL parameters, including ones whose extension is off', () => {
  checkMail([
    ['OPT', ALL, err('unknown', 'OPT', 'unrecognized parameter OPT')],
    ['opt=1', ALL, err('unknown', 'OPT')],
    ['X-FOO=bar', ALL, err('unknown', 'X-FOO')],
    ['NOTIFY=NEVER', ALL, err('unknown', 'NOTIFY')], // RCPT-only
    ['ORCPT=rfc822;a@b', ALL, err('unknown', 'ORCPT')],
    ['MT-PRIORITY=3', ALL, err('unknown', 'MT-PRIORITY')],
    ['SIZE=1 OPT', ALL, err('unknown', 'OPT')],
  ]);
});

test('reports the leftmost problem when several parameters are wrong', () => {
  checkMail([
    ['SIZE=abc OPT', ALL, err('syntax', 'SIZE')],
    ['OPT SIZE=abc', ALL, err('unknown', 'OPT')],
    ['BODY=FOO SIZE=1 SIZE=2', ALL, err('syntax', 'BODY')],
    ['SIZE=1 SIZE=2 OPT', ALL, err('duplicate', 'SIZE')],
  ]);
});

test('rejects malformed parameter tokens', () => {
  checkMail([
    ['=1', ALL, err('syntax', '', 'malformed parameter keyword ""')],
    ['-X', ALL, err('syntax', '-X', 'malformed parameter keyword "-X"')],
    ['SIZE==1', ALL, err('syntax', 'SIZE')],
    ['SIZE=1=2', ALL, err('syntax', 'SIZE')],
    ['SIZE=1,BODY=7BIT', ALL, err('syntax', 'SIZE')],
    ['SIZE=1\t', ALL, err('syntax', 'SIZE')],
    ['SIZE\t=1', ALL, err('syntax', 'SIZE?')],
    ['é=1', ALL, err('syntax', '?')],
    ['SI_ZE=1', ALL, err('syntax', 'SI_ZE')],
    ['BODY=8BITMIMÉ', ALL, err('syntax', 'BODY')],
    [`${'X'.repeat(100)}\0`, ALL, err('syntax', 'X'.repeat(32))], // echoed name is printable and bounded
  ]);
});

test('accepts NOTIFY and ORCPT when DSN is offered', () => {
  const dsn = { dsn: true };
  checkRcpt([
    ['', dsn, {}],
    ['', { dsn: false }, {}],
    ['NOTIFY=NEVER', dsn, { notify: 'NEVER' }],
    ['notify=never', dsn, { notify: 'NEVER' }],
    ['NOTIFY=SUCCESS,FAILURE,DELAY', dsn, { notify: ['SUCCESS', 'FAILURE', 'DELAY'] }],
    ['NOTIFY=delay,success', dsn, { notify: ['DELAY', 'SUCCESS'] }],
    ['NOTIFY=FAILURE', dsn, { notify: ['FAILURE'] }],
    ['ORCPT=rfc822;a@b.c', dsn, { orcpt: { type: 'rfc822', address: 'a@b.c' } }],
    ['ORCPT=RFC822;a+2Bb@c', dsn, { orcpt: { type: 'RFC822', address: 'a+b@c' } }],
    ['ORCPT=utf-8;a@b', dsn, { orcpt: { type: 'utf-8', address: 'a@b' } }],
    ['ORCPT=rfc822;"a+20b"@c', dsn, { orcpt: { type: 'rfc822', address: '"a b"@c' } }],
    [`ORCPT=rfc822;${'a'.repeat(493)}`, dsn, { orcpt: { type: 'rfc822', address: 'a'.repeat(493) } }],
    [
      ' NOTIFY=FAILURE,DELAY  ORCPT=rfc822;x@y ',
      dsn,
      { notify: ['FAILURE', 'DELAY'], orcpt: { type: 'rfc822', address: 'x@y' } },
    ],
  ]);
});

test('rejects NOTIFY lists that mix NEVER, repeat a value or name no condition', () => {
  const dsn = { dsn: true };
  checkRcpt([
    ['NOTIFY=NEVER,SUCCESS', dsn, err('syntax', 'NOTIFY', 'NOTIFY=NEVER cannot be combined with other values')],
    ['NOTIFY=SUCCESS,NEVER', dsn, err('syntax', 'NOTIFY', 'NOTIFY=NEVER cannot be combined with other values')],
    ['NOTIFY=NEVER,NEVER', dsn, err('syntax', 'NOTIFY')],
    ['NOTIFY=SUCCESS,SUCCESS', dsn, err('syntax', 'NOTIFY', 'NOTIFY lists SUCCESS twice')],
    ['NOTIFY=delay,DELAY', dsn, err('syntax', 'NOTIFY', 'NOTIFY lists DELAY twice')],
    ['NOTIFY=ALWAYS', dsn, err('syntax', 'NOTIFY')],
    ['NOTIFY=SUCCESS,', dsn, err('syntax', 'NOTIFY')],
    ['NOTIFY=,SUCCESS', dsn, err('syntax', 'NOTIFY')],
    ['NOTIFY=SUCCESS;FAILURE', dsn, err('syntax', 'NOTIFY')],
    ['NOTIFY=', dsn, err('syntax', 'NOTIFY')],
    ['NOTIFY', dsn, err('syntax', 'NOTIFY', 'NOTIFY requires a value')],
  ]);
});

test('rejects ORCPT without an addr-type or with a dirty address', () => {
  const dsn = { dsn: true };
  checkRcpt([
    ['ORCPT=rcpt@example.com', dsn, err('syntax', 'ORCPT', 'ORCPT must be addr-type;address (missing ";")')],
    ['ORCPT=;a@b', dsn, err('syntax', 'ORCPT', 'ORCPT addr-type must be an atom such as rfc822')],
    ['ORCPT=rf(c;a@b', dsn, err('syntax', 'ORCPT')],
    ['ORCPT=rfc.822;a@b', dsn, err('syntax', 'ORCPT')],
    ['ORCPT=rfc822;', dsn, err('syntax', 'ORCPT', 'ORCPT address is empty')],
    ['ORCPT=rfc822;a+0D+0Ab@c', dsn, err('syntax', 'ORCPT')],
    ['ORCPT=rfc822;a+E2+81+A0b@c', dsn, err('syntax', 'ORCPT')], // U+2060
    ['ORCPT=rfc822;a+0g', dsn, err('syntax', 'ORCPT', 'ORCPT value is not valid xtext')],
    [`ORCPT=rfc822;${'a'.repeat(494)}`, dsn, err('syntax', 'ORCPT', 'ORCPT is longer than 500 characters')],
    ['ORCPT', dsn, err('syntax', 'ORCPT')],
  ]);
});

test('rejects duplicate and unknown RCPT parameters', () => {
  const dsn = { dsn: true };
  checkRcpt([
    ['NOTIFY=NEVER NOTIFY=SUCCESS', dsn, err('duplicate', 'NOTIFY', 'NOTIFY given more than once')],
    ['NOTIFY=NEVER notify=NEVER', dsn, err('duplicate', 'NOTIFY')],
    ['ORCPT=rfc822;a@b ORCPT=rfc822;a@b', dsn, err('duplicate', 'ORCPT')],
    ['NOTIFY=NEVER', { dsn: false }, err('unknown', 'NOTIFY')],
    ['ORCPT=rfc822;a@b', { dsn: false }, err('unknown', 'ORCPT')],
    ['SIZE=1', dsn, err('unknown', 'SIZE')], // MAIL-only
    ['OPT', dsn, err('unknown', 'OPT')],
    ['NOTIFY=NEVER X-FOO', dsn, err('unknown', 'X-FOO')],
  ]);
});

/**
 * Whole MAIL FROM arguments from the hostile-input corpus, run the way a session would: the path
 * is parsed with SMTPUTF8 allowed when advertised, and a non-ASCII address without the SMTPUTF8
 * parameter is refused afterwards.
 */
function mailFrom(arg: string, caps: ParamCaps): string {
  const path = parsePath(arg, { smtputf8: caps.smtputf8, allowNull: true, allowPostmaster: false });
  if (!path.ok) return `path:${path.error.kind}`;
  const params = parseMailParams(path.rest, caps);
  if (!params.ok) return `param:${params.error.kind}:${params.error.param}`;
  if (!params.params.smtputf8 && /[^\x00-\x7f]/.test(path.address)) return 'path:needs-smtputf8';
  return 'ok';
}

test('handles whole MAIL FROM arguments from the hostile-input corpus', () => {
  const rows: [arg: string, expected: string][] = [
    ['<a@b> SIZE=2048', 'param:size-exceeded:SIZE'],
    ['<a@b> SIZE=1024', 'ok'],
    ['<a@b.c> ENVID=ab+0D+0Acd', 'param:syntax:ENVID'],
    ['<a@b> AUTH=<x+0A>', 'param:syntax:AUTH'],
    ['<u@d> OPT', 'param:unknown:OPT'],
    ['<a@b> RET=FULL RET=HDRS', 'param:duplicate:RET'],
    ['<a\x01b@c.d>', 'path:invalid-characters'],
    ['<a\u200b@c.d>', 'path:invalid-characters'],
    ['<a@c\u2060.d>', 'path:invalid-characters'],
    ['<postmaster>', 'path:syntax'],
    ['<>', 'ok'],
    ['<@r1,@r2:s@e.com>', 'ok'],
    ['<pelé@example.com>', 'path:needs-smtputf8'],
    ['<pelé@example.com> SMTPUTF8', 'ok'],
    ['<a@b> SMTPUTF8=yes', 'param:syntax:SMTPUTF8'],
    ['<a@b> BODY=8BITMIME', 'ok'],
    ['<a@b> BODY=7BIT', 'ok'],
    ['<a@b> BODY=FOO', 'param:syntax:BODY'],
    ['<a@b> BODY=', 'param:syntax:BODY'],
    ['<a@b> BODY=BINARYMIME', 'param:unsupported-value:BODY'],
    ['<a@b> SIZE=-1', 'param:syntax:SIZE'],
    ['<a@b> SIZE=abc', 'param:syntax:SIZE'],
    ['<a@b> SIZE=1e308', 'param:syntax:SIZE'],
    ['<a@b> SIZE=0x10', 'param:syntax:SIZE'],
    ['<a@b> SIZE=99999999999999999999999', 'param:syntax:SIZE'],
    ['<a@b> SIZE=', 'param:syntax:SIZE'],
    ['<a@b> SIZE', 'param:syntax:SIZE'],
  ];
  for (const [arg, expected] of rows) {
    assert.equal(mailFrom(arg, ALL), expected, JSON.stringify(arg));
  }
  // Without SMTPUTF8 advertised the path parser refuses the address on its own.
  assert.equal(mailFrom('<pelé@example.com> SMTPUTF8', NONE), 'path:needs-smtputf8');
});
