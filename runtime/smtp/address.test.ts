// Tests for MAIL FROM / RCPT TO path parsing, domain validation and normalization.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AddressErrorKind, PathOptions } from './address.ts';
import { normalizeDomain, parsePath, validateDomain } from './address.ts';

const MAIL: PathOptions = { smtputf8: false, allowNull: true, allowPostmaster: false };
const RCPT: PathOptions = { smtputf8: false, allowNull: false, allowPostmaster: true };
const MAIL_UTF8: PathOptions = { ...MAIL, smtputf8: true };
const RCPT_UTF8: PathOptions = { ...RCPT, smtputf8: true };

type Accepted = { address: string; localPart: string; domain: string | null; rest: string };
type Rejected = { error: AddressErrorKind; message?: string };
type Row = [text: string, opts: PathOptions, expected: Accepted | Rejected];

function ok(localPart: string, domain: string | null, rest = ''): Accepted {
  const address = domain === null ? localPart : `${localPart}@${domain}`;
  return { address, localPart, domain, rest };
}

function err(error: AddressErrorKind, message?: string): Rejected {
  return message === undefined ? { error } : { error, message };
}

function check(rows: Row[]): void {
  for (const [text, opts, expected] of rows) {
    const got = parsePath(text, opts);
    const label = `${JSON.stringify(text)} ${JSON.stringify(opts)}`;
    if ('error' in expected) {
      assert.equal(got.ok, false, `${label} should be rejected`);
      if (got.ok) continue;
      assert.equal(got.error.kind, expected.error, `${label}: ${got.error.message}`);
      if (expected.message !== undefined) assert.equal(got.error.message, expected.message, label);
    } else {
      assert.equal(got.ok, true, `${label}: ${got.ok ? '' : got.error.message}`);
      if (!got.ok) continue;
      const { address, localPart, domain, rest } = got;
      assert.deepEqual({ address, localPart, domain, rest }, expected, label);
    }
  }
}

/** A domain of exactly `octets` octets made of labels of at most 63 'a's. */
function domainOf(octets: number): string {
  const labels: string[] = [];
  let left = octets;
  while (left > 63) {
    const take = left - 63 >= 2 ? 63 : left - 2;
    labels.push('a'.repeat(take));
    left -= take + 1;
  }
  labels.push('a'.repeat(left));
  const domain = labels.join('.');
  assert.equal(domain.length, octets);
  return domain;
}

test('accepts ordinary paths and returns the parameters after them', () => {
  check([
    ['<a@b.c>', MAIL, ok('a', 'b.c')],
    [' <a@b.c>', MAIL, ok('a', 'b.c')], // space after the colon, as many clients send
    ['   <a@b.c>', RCPT, ok('a', 'b.c')],
    ['<a@b.c> ', MAIL, ok('a', 'b.c')],
    ['<a@b.c> SIZE=10', MAIL, ok('a', 'b.c', 'SIZE=10')],
    ['<a@b.c>   SIZE=10  BODY=8BITMIME ', MAIL, ok('a', 'b.c', 'SIZE=10  BODY=8BITMIME ')],
    ['<A.B-c+d@Example.COM>', MAIL, ok('A.B-c+d', 'Example.COM')], // domain kept as written
    ["<!#$%&'*+-/=?^_`{|}~@x.y>", MAIL, ok("!#$%&'*+-/=?^_`{|}~", 'x.y')],
    ['<a.b.c@d>', RCPT, ok('a.b.c', 'd')],
    ['<user@localhost>', RCPT, ok('user', 'localhost')],
    ['<a@b-c.d>', MAIL, ok('a', 'b-c.d')],
    ['<a@1.2.3.4>', MAIL, ok('a', '1.2.3.4')], // grammatically a domain name, not a literal
    ['<a@xn--pel-dma.example>', MAIL, ok('a', 'xn--pel-dma.example')],
    ['<Postmaster@example.com>', MAIL, ok('Postmaster', 'example.com')],
  ]);
});

test('accepts the null path only where allowed', () => {
  check([
    ['<>', MAIL, ok('', null)],
    [' <>', MAIL, ok('', null)],
    ['<> SIZE=1 BODY=7BIT', MAIL, ok('', null, 'SIZE=1 BODY=7BIT')],
    ['<>', RCPT, err('null-not-allowed', 'null path <> is not allowed here')],
    ['<>x', MAIL, err('syntax', 'expected a space after ">"')],
    ['<><>', MAIL, err('syntax')],
  ]);
});

test('accepts bare <postmaster> only as a recipient', () => {
  check([
    ['<postmaster>', RCPT, ok('postmaster', null)],
    ['<PostMaster>', RCPT, ok('postmaster', null)],
    ['<POSTMASTER> NOTIFY=NEVER', RCPT, ok('postmaster', null, 'NOTIFY=NEVER')],
    ['<postmaster@example.com>', RCPT, ok('postmaster', 'example.com')],
    ['<postmaster>', MAIL, err('syntax', 'address has no domain (bare <postmaster> is only accepted as a recipient)')],
    ['<postmaster>x', RCPT, err('syntax')],
    ['<@a:postmaster>', RCPT, err('syntax')], // the special case has no source route
    ['<"postmaster">', RCPT, err('syntax')],
    ['<postmasters>', RCPT, err('syntax', 'address has no "@domain"')],
  ]);
});

test('rejects malformed paths from the hostile-input corpus', () => {
  check([
    ['<a>', MAIL, err('syntax', 'address has no "@domain"')],
    ['<a>', RCPT, err('syntax')],
    ['<a@>', MAIL, err('syntax', 'empty domain')],
    ['<@a>', MAIL, err('syntax', 'source route must end with ":" before the mailbox')],
    ['< @a>', MAIL, err('syntax')],
    ['< a@b.c>', MAIL, err('syntax')],
    ['<a@ >', MAIL, err('syntax', 'invalid character U+0020 in domain')],
    ['<a@b.c >', MAIL, err('syntax')],
    ['<a @b.c>', MAIL, err('syntax', 'invalid character U+0020 in local part')],
    ['', MAIL, err('syntax', 'path must be enclosed in "<" and ">"')],
    ['   ', MAIL, err('syntax')],
    ['a@b.c', MAIL, err('syntax', 'path must be enclosed in "<" and ">"')],
    ['<', MAIL, err('syntax')],
    ['<a@b.c', MAIL, err('syntax', 'path is missing the closing ">"')],
    ['<a', MAIL, err('syntax')],
    ['<a@b.c>x', MAIL, err('syntax', 'expected a space after ">"')],
    ['<a@b.c>>', MAIL, err('syntax')],
    ['<<a@b.c>>', MAIL, err('syntax')],
    ['<a@b.c><d@e.f>', MAIL, err('syntax')],
    ['<a@@b.c>', MAIL, err('syntax')],
    ['<a@b@c>', MAIL, err('syntax')],
    ['<@>', MAIL, err('syntax')],
  ]);
});

test('rejects local parts that are not dot-atoms or quoted strings', () => {
  check([
    ['<.a@b.c>', MAIL, err('syntax', 'local part starts with "."')],
    ['<a.@b.c>', MAIL, err('syntax', 'local part ends with "."')],
    ['<a..b@c.d>', MAIL, err('syntax', 'local part contains ".."')],
    ['<@b.c>', MAIL, err('syntax')],
    ['<a,b@c.d>', MAIL, err('syntax', 'invalid character "," in local part')],
    ['<a\\@b@c.d>', MAIL, err('syntax')],
    ['<a(b)@c.d>', MAIL, err('syntax')],
    ['<a[b]@c.d>', MAIL, err('syntax')],
    ['<a;b@c.d>', MAIL, err('syntax')],
    ['<a:b@c.d>', MAIL, err('syntax')],
  ]);
});

test('rejects domains that are not LDH names', () => {
  check([
    ['<a@b..c>', MAIL, err('syntax', 'empty label in domain')],
    ['<a@.b.c>', MAIL, err('syntax', 'empty label in domain')],
    ['<a@b.c.>', MAIL, err('syntax', 'empty label in domain')],
    ['<a@-b.c>', MAIL, err('syntax', 'domain label starts or ends with "-"')],
    ['<a@b-.c>', MAIL, err('syntax', 'domain label starts or ends with "-"')],
    ['<a@b_c.d>', MAIL, err('syntax', 'invalid character "_" in domain')],
    ['<a@b.c:25>', MAIL, err('syntax')],
    ['<a@"b".c>', MAIL, err('syntax')],
    ['<a@b,c>', MAIL, err('syntax')],
  ]);
});

test('accepts and strips source routes', () => {
  check([
    ['<@r1,@r2:s@e.com>', MAIL, ok('s', 'e.com')],
    ['<@a:b@c>', RCPT, ok('b', 'c')],
    ['<@a.example,@b.example,@c.example:user@d.example> SIZE=5', MAIL, ok('user', 'd.example', 'SIZE=5')],
    ['<@a,b:c@d>', MAIL, err('syntax', 'expected "@" after "," in source route')],
    ['<@a:>', MAIL, err('syntax')],
    ['<@:a@b>', MAIL, err('syntax', 'source route: empty domain')],
    ['<@a,@b>', MAIL, err('syntax')],
    ['<@a..b:c@d>', MAIL, err('syntax', 'source route: empty label in domain')],
    ['<@[1.2.3.4]:a@b>', MAIL, err('syntax', 'address literal in source route')],
    ['<@a:@b:c@d>', MAIL, err('syntax')],
  ]);
});

test('enforces the local-part, label, domain and path octet limits', () => {
  const l64 = 'a'.repeat(64);
  const l65 = 'a'.repeat(65);
  check([
    [`<${l64}@b.c>`, MAIL, ok(l64, 'b.c')],
    [`<${l65}@b.c>`, MAIL, err('too-long', 'local part is 65 octets, longer than 64')],
    // Octets, not characters: 32 × "é" is 64 octets, one more ASCII letter makes 65.
    [`<${'é'.repeat(32)}@b.c>`, MAIL_UTF8, ok('é'.repeat(32), 'b.c')],
    [`<${'é'.repeat(32)}a@b.c>`, MAIL_UTF8, err('too-long', 'local part is 65 octets, longer than 64')],
    [`<"${'a'.repeat(62)}"@b.c>`, MAIL, ok(`"${'a'.repeat(62)}"`, 'b.c')], // quotes count
    [`<"${'a'.repeat(63)}"@b.c>`, MAIL, err('too-long', 'local part is 65 octets, longer than 64')],
    [`<a@${'b'.repeat(63)}.c>`, MAIL, ok('a', `${'b'.repeat(63)}.c`)],
    [`<a@${'b'.repeat(64)}.c>`, MAIL, err('too-long', 'domain label is 64 octets, longer than 63')],
    // 1 + 64 + 1 + 189 + 1 = 256 octets from "<" to ">" inclusive.
    [`<${l64}@${domainOf(189)}>`, MAIL, ok(l64, domainOf(189))],
    [`<${l64}@${domainOf(190)}>`, MAIL, err('too-long', 'path is 257 octets, longer than 256')],
    // A 255-octet domain passes the domain limit but no path holding it fits in 256 octets.
    [`<a@${domainOf(255)}>`, MAIL, err('too-long', 'path is 259 octets, longer than 256')],
    [`<a@${domainOf(256)}>`, MAIL, err('too-long', 'domain is 256 octets, longer than 255')],
    // The source route counts toward the path even though it is dropped.
    [`<@${domainOf(125)},@${domainOf(125)}:a@b.c>`, MAIL, err('too-long', 'path is 261 octets, longer than 256')],
  ]);
});

test('validates IPv4 and IPv6 address literals', () => {
  check([
    ['<a@[1.2.3.4]>', MAIL, ok('a', '[1.2.3.4]')],
    ['<a@[255.255.255.255]>', MAIL, ok('a', '[255.255.255.255]')],
    ['<a@[0.0.0.0]> SIZE=1', MAIL, ok('a', '[0.0.0.0]', 'SIZE=1')],
    ['<a@[IPv6:::1]>', MAIL, ok('a', '[IPv6:::1]')],
    ['<a@[ipv6:::1]>', MAIL, ok('a', '[ipv6:::1]')], // ABNF tags are case-insensitive
    ['<a@[IPv6:2001:db8::1]>', MAIL, ok('a', '[IPv6:2001:db8::1]')],
    ['<a@[IPv6:1:2:3:4:5:6:7:8]>', MAIL, ok('a', '[IPv6:1:2:3:4:5:6:7:8]')],
    ['<a@[IPv6:::ffff:1.2.3.4]>', MAIL, ok('a', '[IPv6:::ffff:1.2.3.4]')],
    ['<a@[256.1.1.1]>', MAIL, err('syntax', 'invalid IPv4 address literal')],
    ['<a@[1.2.3]>', MAIL, err('syntax', 'invalid IPv4 address literal')],
    ['<a@[1.2.3.4.5]>', MAIL, err('syntax', 'invalid IPv4 address literal')],
    ['<a@[01.2.3.4]>', MAIL, err('syntax', 'invalid IPv4 address literal')], // octal-looking
    ['<a@[ 1.2.3.4]>', MAIL, err('syntax')],
    ['<a@[]>', MAIL, err('syntax')],
    ['<a@[example.com]>', MAIL, err('syntax')],
    ['<a@[IPv6:fe80::1%eth0]>', MAIL, err('syntax', 'invalid IPv6 address literal')],
    ['<a@[IPv6:1::2::3]>', MAIL, err('syntax', 'invalid IPv6 address literal')],
    ['<a@[IPv6:1:2:3:4:5:6:7:8:9]>', MAIL, err('syntax', 'invalid IPv6 address literal')],
    ['<a@[IPv6:1.2.3.4]>', MAIL, err('syntax', 'invalid IPv6 address literal')],
    ['<a@[IPv6:]>', MAIL, err('syntax', 'invalid IPv6 address literal')],
    ['<a@[::1]>', MAIL, err('syntax', 'unsupported address literal tag (only "IPv6:" is defined)')],
    ['<a@[x-tag:foo]>', MAIL, err('syntax', 'unsupported address literal tag (only "IPv6:" is defined)')],
    ['<a@[1.2.3.4>', MAIL, err('syntax', 'address literal is missing "]"')],
    ['<a@[1.2.3.4]x>', MAIL, err('syntax', 'unexpected text after address literal')],
    ['<a@[1.2.3.4].com>', MAIL, err('syntax')],
    ['<a@b.[1.2.3.4]>', MAIL, err('syntax')],
  ]);
});

test('accepts quoted local parts with quoted-pairs', () => {
  check([
    ['<"a b"@c.d>', MAIL, ok('"a b"', 'c.d')],
    ['<"a\\"b"@c.d>', MAIL, ok('"a\\"b"', 'c.d')],
    ['<"a\\\\b"@c.d>', MAIL, ok('"a\\\\b"', 'c.d')],
    ['<"a>b"@c.d> SIZE=1', MAIL, ok('"a>b"', 'c.d', 'SIZE=1')], // ">" inside quotes does not end the path
    ['<"a@b"@c.d>', MAIL, ok('"a@b"', 'c.d')],
    ['<"john..doe"@c.d>', MAIL, ok('"john..doe"', 'c.d')],
    ['<""@c.d>', MAIL, ok('""', 'c.d')], // the grammar allows an empty quoted string
    ['<@r:"x y"@c.d>', MAIL, ok('"x y"', 'c.d')],
    ['<"a"b@c.d>', MAIL, err('syntax', 'invalid character "b" in local part')],
    ['<a"b"@c.d>', MAIL, err('syntax')],
    ['<"abc@d>', MAIL, err('syntax', 'unterminated quoted local part')],
    ['<"abc\\"@d>', MAIL, err('syntax', 'unterminated quoted local part')],
    ['<"a\\é"@c.d>', MAIL_UTF8, err('syntax', '"\\" in quoted local part must be followed by printable ASCII')],
    ['<"é"@c.d>', MAIL_UTF8, ok('"é"', 'c.d')],
    ['<"é"@c.d>', MAIL, err('needs-smtputf8')],
  ]);
});

test('requires SMTPUTF8 for non-ASCII addresses and accepts them with it', () => {
  check([
    ['<pelé@example.com>', MAIL, err('needs-smtputf8', 'non-ASCII address requires SMTPUTF8')],
    ['<pelé@example.com>', MAIL_UTF8, ok('pelé', 'example.com')],
    ['<a@bücher.de>', RCPT, err('needs-smtputf8')],
    ['<a@bücher.de>', RCPT_UTF8, ok('a', 'bücher.de')],
    ['<@bücher.de:a@b.c>', MAIL, err('needs-smtputf8')], // the route counts too
    ['<用户@例子.广告>', RCPT_UTF8, ok('用户', '例子.广告')],
    ['<δοκιμή@παράδειγμα.δοκιμή>', RCPT_UTF8, ok('δοκιμή', 'παράδειγμα.δοκιμή')],
    ['<😀@example.com>', MAIL_UTF8, ok('😀', 'example.com')],
    ['<a@\u{20000}.example>', MAIL_UTF8, ok('a', '\u{20000}.example')], // astral letter in a U-label
    ['<a@😀.com>', MAIL_UTF8, err('syntax', 'invalid character U+1F600 in domain')],
    ['<a@b\u00a0c.d>', MAIL_UTF8, err('syntax', 'invalid character U+00A0 in domain')],
    ['<a\u00a0b@c.d>', MAIL_UTF8, err('syntax', 'invalid character U+00A0 in local part')],
    ['<a\u3000b@c.d>', MAIL_UTF8, err('syntax')],
    ['<a@é-.com>', MAIL_UTF8, err('syntax', 'domain label starts or ends with "-"')],
    ['<a@[1.2.3.４]>', MAIL_UTF8, err('syntax', 'invalid IPv4 address literal')],
    ['<pelé@example.com', MAIL, err('syntax')], // syntax is reported before the SMTPUTF8 need
  ]);
});

test('rejects controls, lone surrogates and invisible characters anywhere', () => {
  for (const opts of [MAIL, MAIL_UTF8]) {
    check([
      ['<a\x01b@c.d>', opts, err('invalid-characters', 'control character U+0001 at offset 2')],
      ['<a\u200b@c.d>', opts, err('invalid-characters', 'invisible character U+200B at offset 2')],
      ['<a@c\u2060.d>', opts, err('invalid-characters', 'invisible character U+2060 at offset 4')],
      ['<\ufeffa@c.d>', opts, err('invalid-characters', 'invisible character U+FEFF at offset 1')],
      ['<a\u00adb@c.d>', opts, err('invalid-characters', 'invisible character U+00AD at offset 2')],
      ['<a\0@c.d>', opts, err('invalid-characters')],
      ['<a\t@c.d>', opts, err('invalid-characters')],
      ['<a\r\n@c.d>', opts, err('invalid-characters')],
      ['<a@c.d>\r\nRCPT TO:<x@y>', opts, err('invalid-characters')],
      ['<a@c.d> SIZE=1\r', opts, err('invalid-characters')],
      ['\x00<a@c.d>', opts, err('invalid-characters')],
      ['<a\x7f@c.d>', opts, err('invalid-characters', 'control character U+007F at offset 2')],
      ['<a\x85@c.d>', opts, err('invalid-characters', 'control character U+0085 at offset 2')],
      ['<a\x9b@c.d>', opts, err('invalid-characters')],
      ['<"a\x01"@c.d>', opts, err('invalid-characters')],
      ['<"a\\\x01"@c.d>', opts, err('invalid-characters')],
      ['<a\ud800@c.d>', opts, err('invalid-characters', 'unpaired surrogate U+D800 at offset 2')],
      ['<a\udc00@c.d>', opts, err('invalid-characters', 'unpaired surrogate U+DC00 at offset 2')],
      ['<a@c.d\ud83d>', opts, err('invalid-characters')],
      ['<a\u202e@c.d>', opts, err('invalid-characters')], // right-to-left override
      ['<a\u2066@c.d>', opts, err('invalid-characters')],
      ['<a\u200f@c.d>', opts, err('invalid-characters')],
      ['<a\u2028@c.d>', opts, err('invalid-characters')], // line separator
      ['<a\ufffe@c.d>', opts, err('invalid-characters', 'noncharacter U+FFFE at offset 2')],
      ['<a\u{10ffff}@c.d>', opts, err('invalid-characters', 'noncharacter U+10FFFF at offset 2')],
      ['<a\ufdd0@c.d>', opts, err('invalid-characters')],
    ]);
  }
});

test('keeps ZWNJ and ZWJ, which some scripts need, under SMTPUTF8', () => {
  check([
    ['<می\u200cخواهم@example.com>', MAIL_UTF8, ok('می\u200cخواهم', 'example.com')],
    ['<a\u200db@example.com>', MAIL_UTF8, ok('a\u200db', 'example.com')],
    ['<a\u200db@example.com>', MAIL, err('needs-smtputf8')],
  ]);
});

test('validateDomain checks a bare domain or literal as EHLO would', () => {
  const rows: [domain: string, smtputf8: boolean, expected: AddressErrorKind | null][] = [
    ['example.com', false, null],
    ['localhost', false, null],
    ['[1.2.3.4]', false, null],
    ['[IPv6:::1]', false, null],
    [domainOf(255), false, null],
    [domainOf(256), false, 'too-long'],
    [`${'a'.repeat(63)}.com`, false, null],
    [`${'a'.repeat(64)}.com`, false, 'too-long'],
    ['bücher.de', false, 'needs-smtputf8'],
    ['bücher.de', true, null],
    ['x\0y', false, 'invalid-characters'],
    ['a\u200bb.com', true, 'invalid-characters'],
    ['a b', false, 'syntax'],
    ['', false, 'syntax'],
    ['-a.com', false, 'syntax'],
    ['a.com.', false, 'syntax'],
    ['[1.2.3]', false, 'syntax'],
  ];
  for (const [domain, smtputf8, expected] of rows) {
    assert.equal(validateDomain(domain, smtputf8)?.kind ?? null, expected, JSON.stringify(domain));
  }
});

test('normalizeDomain lowercases ASCII and applies NFC, idempotently', () => {
  const rows: [string, string][] = [
    ['example.com', 'example.com'],
    ['Example.COM', 'example.com'],
    ['BÜCHER.de', 'bÜcher.de'], // only ASCII is case-folded
    ['e\u0301.com', '\u00e9.com'], // NFC composes
    ['E\u0301.COM', '\u00e9.com'], // lowercased before composing
    ['\u212a.com', 'k.com'], // KELVIN SIGN normalizes to ASCII "K", then lowercases
    ['[IPv6:::1]', '[ipv6:::1]'],
    ['xn--PEL-DMA.Example', 'xn--pel-dma.example'],
  ];
  for (const [input, expected] of rows) {
    const once = normalizeDomain(input);
    assert.equal(once, expected, JSON.stringify(input));
    assert.equal(normalizeDomain(once), once, `idempotent for ${JSON.stringify(input)}`);
  }
});
