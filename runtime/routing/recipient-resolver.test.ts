import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecipientConfigError, RecipientResolver, type RecipientResolverOptions, type Resolution } from './recipient-resolver.ts';

const config: RecipientResolverOptions = {
  domains: ['example.com', 'example.org', 'example.net'],
  mailboxes: ['alice@example.com', 'bob@example.com', 'carol@example.org', 'dave@example.com'],
  aliases: {
    'info@example.com': ['alice@example.com'],
    'sales@example.com': ['info@example.com', 'Partner@Remote.Test'],
    'a1@example.com': ['a2@example.com'],
    'a2@example.com': ['a3@example.com'],
    'a3@example.com': ['bob@example.com'],
    'self@example.com': ['self@example.com'],
    'ping@example.com': ['pong@example.com'],
    'pong@example.com': ['ping@example.com'],
    'x@example.com': ['y@example.com'],
    'y@example.com': ['z@example.com'],
    'z@example.com': ['x@example.com'],
    'dave@example.com': ['dave@example.com', 'dave@remote.test'],
    'ghost@example.com': ['nobody@example.com'],
    'half@example.com': ['nobody@example.com', 'bob@example.com'],
    'loopy@example.com': ['ping@example.com', 'bob@example.com'],
    'postmaster@example.org': ['carol@example.org'],
    'old@remote.test': ['new@remote.test'],
  },
  groups: {
    'team@example.com': ['alice@example.com', 'bob@example.com', 'sub@example.com'],
    'sub@example.com': ['carol@example.org', 'alice@example.com', 'ext@remote.test'],
    'all@example.com': ['team@example.com', 'sub@example.com', 'info@example.com'],
    'ouro@example.com': ['ouro@example.com'],
    'ring@example.com': ['bob@example.com', 'ring@example.com'],
    'g1@example.com': ['g2@example.com'],
    'g2@example.com': ['g3@example.com'],
    'g3@example.com': ['g1@example.com'],
    'mixed@example.com': ['info@example.com', 'sales@example.com'],
  },
};

const resolver = new RecipientResolver(config);

/** [final address, local, via] per recipient, or the failure reply. */
type Expect = { recipients: [string, boolean, string[]][]; expandedGroup: boolean; dropped?: string[] } | { reply: string };

function summary(r: Resolution): Expect {
  if (!r.ok) {
    assert.equal(r.permanent, true);
    return { reply: r.reply };
  }
  const out: Expect = { recipients: r.recipients.map((x) => [x.address, x.local, x.via]), expandedGroup: r.expandedGroup };
  if (r.dropped !== undefined) out.dropped = r.dropped.map((d) => `${d.address} ${d.reply}`);
  return out;
}

const cases: [name: string, address: string, expect: Expect][] = [
  ['a mailbox is final', 'alice@example.com', { recipients: [['alice@example.com', true, []]], expandedGroup: false }],
  ['a remote address is final and not local', 'someone@remote.test', { recipients: [['someone@remote.test', false, []]], expandedGroup: false }],
  ['an alias resolves to its target', 'info@example.com', { recipients: [['alice@example.com', true, ['info@example.com']]], expandedGroup: false }],
  [
    'an alias may point to an alias and to a remote address, kept as written',
    'sales@example.com',
    { recipients: [['alice@example.com', true, ['sales@example.com', 'info@example.com']], ['Partner@Remote.Test', false, ['sales@example.com']]], expandedGroup: false },
  ],
  [
    'an alias chain records every step, outermost first',
    'a1@example.com',
    { recipients: [['bob@example.com', true, ['a1@example.com', 'a2@example.com', 'a3@example.com']]], expandedGroup: false },
  ],
  [
    'an alias naming itself keeps a copy in its own mailbox',
    'dave@example.com',
    { recipients: [['dave@example.com', true, []], ['dave@remote.test', false, ['dave@example.com']]], expandedGroup: false },
  ],
  ['an alias of a remote address is applied too', 'old@remote.test', { recipients: [['new@remote.test', false, ['old@remote.test']]], expandedGroup: false }],
  [
    'a group expands in member order, nested groups included',
    'team@example.com',
    {
      recipients: [
        ['alice@example.com', true, ['team@example.com']],
        ['bob@example.com', true, ['team@example.com']],
        ['carol@example.org', true, ['team@example.com', 'sub@example.com']],
        ['ext@remote.test', false, ['team@example.com', 'sub@example.com']],
      ],
      expandedGroup: true,
    },
  ],
  [
    'duplicates across groups and aliases are removed, the first occurrence wins',
    'all@example.com',
    {
      recipients: [
        ['alice@example.com', true, ['all@example.com', 'team@example.com']],
        ['bob@example.com', true, ['all@example.com', 'team@example.com']],
        ['carol@example.org', true, ['all@example.com', 'team@example.com', 'sub@example.com']],
        ['ext@remote.test', false, ['all@example.com', 'team@example.com', 'sub@example.com']],
      ],
      expandedGroup: true,
    },
  ],
  [
    'an address reached twice through different aliases is delivered once',
    'mixed@example.com',
    {
      recipients: [
        ['alice@example.com', true, ['mixed@example.com', 'info@example.com']],
        ['Partner@Remote.Test', false, ['mixed@example.com', 'sales@example.com']],
      ],
      expandedGroup: true,
    },
  ],
  ['a loop of length 1 (alias) with no final address fails 5.4.6', 'self@example.com', { reply: '550 5.4.6 routing loop detected for <self@example.com>' }],
  ['a loop of length 1 (group containing itself) fails 5.4.6', 'ouro@example.com', { reply: '550 5.4.6 routing loop detected for <ouro@example.com>' }],
  ['a loop of length 2 fails 5.4.6', 'ping@example.com', { reply: '550 5.4.6 routing loop detected for <ping@example.com>' }],
  ['a loop of length 3 fails 5.4.6', 'x@example.com', { reply: '550 5.4.6 routing loop detected for <x@example.com>' }],
  ['a loop of length 3 through groups fails 5.4.6', 'g2@example.com', { reply: '550 5.4.6 routing loop detected for <g2@example.com>' }],
  ['a loop beside a final address is broken and the rest delivered', 'loopy@example.com', { recipients: [['bob@example.com', true, ['loopy@example.com']]], expandedGroup: false }],
  ['a group containing itself delivers its other members', 'ring@example.com', { recipients: [['bob@example.com', true, ['ring@example.com']]], expandedGroup: true }],
  ['an unknown local address fails 5.1.1', 'nobody@example.com', { reply: '550 5.1.1 <nobody@example.com>: no such mailbox here' }],
  ['an unknown address in another accepted domain fails 5.1.1', 'nobody@example.org', { reply: '550 5.1.1 <nobody@example.org>: no such mailbox here' }],
  [
    'an alias leading only to unknown addresses fails 5.1.1 and names them',
    'ghost@example.com',
    { reply: '550 5.1.1 <ghost@example.com>: expands only to unknown addresses: <nobody@example.com>' },
  ],
  [
    'an unknown target beside a known one is dropped and reported',
    'half@example.com',
    {
      recipients: [['bob@example.com', true, ['half@example.com']]],
      expandedGroup: false,
      dropped: ['nobody@example.com 550 5.1.1 <nobody@example.com>: no such mailbox here'],
    },
  ],
  ['lookups ignore case; a final address keeps its spelling', 'Bob@Example.COM', { recipients: [['Bob@Example.COM', true, []]], expandedGroup: false }],
  ['an alias matches whatever its case', 'INFO@EXAMPLE.COM', { recipients: [['alice@example.com', true, ['INFO@EXAMPLE.COM']]], expandedGroup: false }],
  ['a needlessly quoted local part is the same mailbox', '"Alice"@example.com', { recipients: [['"Alice"@example.com', true, []]], expandedGroup: false }],
  ['bare postmaster goes to postmaster of the first domain', 'postmaster', { recipients: [['postmaster@example.com', true, ['postmaster']]], expandedGroup: false }],
  ['postmaster of the first domain is final even though it is not listed', 'PostMaster@example.com', { recipients: [['PostMaster@example.com', true, []]], expandedGroup: false }],
  [
    'postmaster of another accepted domain goes to the first domain',
    'postmaster@Example.NET',
    { recipients: [['postmaster@example.com', true, ['postmaster@Example.NET']]], expandedGroup: false },
  ],
  ['an alias for postmaster wins over the rule', 'postmaster@example.org', { recipients: [['carol@example.org', true, ['postmaster@example.org']]], expandedGroup: false }],
  ['postmaster of a remote domain is just remote', 'postmaster@remote.test', { recipients: [['postmaster@remote.test', false, []]], expandedGroup: false }],
  ['an address without a domain (other than postmaster) fails 5.1.3', 'alice', { reply: '550 5.1.3 <alice>: bad recipient address syntax' }],
];

for (const [name, address, expect] of cases) {
  test(`resolve: ${name}`, () => {
    assert.deepEqual(summary(resolver.resolve(address)), expect);
  });
}

test('resolve: an alias on the first postmaster applies to postmaster of every domain', () => {
  const r = new RecipientResolver({ ...config, aliases: { 'postmaster@example.com': ['alice@example.com'] } });
  assert.deepEqual(summary(r.resolve('postmaster@example.net')), {
    recipients: [['alice@example.com', true, ['postmaster@example.net', 'postmaster@example.com']]],
    expandedGroup: false,
  });
  assert.deepEqual(summary(r.resolve('Postmaster')), { recipients: [['alice@example.com', true, ['Postmaster', 'postmaster@example.com']]], expandedGroup: false });
});

test('resolve: with no mailboxes listed every local part of an accepted domain is a mailbox', () => {
  const r = new RecipientResolver({ domains: ['example.com'], mailboxes: [], aliases: { 'me@example.com': ['me@example.com', 'copy@example.com'] }, groups: { 'ouro@example.com': ['ouro@example.com'] } });
  assert.deepEqual(summary(r.resolve('Anyone@example.com')), { recipients: [['Anyone@example.com', true, []]], expandedGroup: false });
  // A self-reference is then a mailbox of its own, not a loop.
  assert.deepEqual(summary(r.resolve('me@example.com')), {
    recipients: [['me@example.com', true, []], ['copy@example.com', true, ['me@example.com']]],
    expandedGroup: false,
  });
  assert.deepEqual(summary(r.resolve('ouro@example.com')), { recipients: [['ouro@example.com', true, []]], expandedGroup: true });
  assert.equal(r.isKnown('whoever@EXAMPLE.com'), true);
});

test('resolve: more final addresses than maxExpansion fail 5.3.4; duplicates do not count', () => {
  const members = ['m1@example.com', 'm2@example.com', 'm3@example.com', 'm4@example.com', 'm5@example.com'];
  const opts = { domains: ['example.com'], mailboxes: [], aliases: {}, groups: { 'big@example.com': members, 'dups@example.com': ['m1@example.com', 'M1@example.com', 'big@example.com'] } };
  assert.deepEqual(summary(new RecipientResolver({ ...opts, maxExpansion: 4 }).resolve('big@example.com')), {
    reply: '550 5.3.4 <big@example.com>: expands to more than 4 addresses',
  });
  const five = new RecipientResolver({ ...opts, maxExpansion: 5 });
  const ok = five.resolve('dups@example.com');
  assert.ok(ok.ok);
  assert.deepEqual(
    ok.recipients.map((x) => x.address),
    members,
  );
});

test('resolve: the default limit is 1000 addresses', () => {
  const members = Array.from({ length: 1001 }, (_, i) => `u${i}@example.com`);
  const r = new RecipientResolver({ domains: ['example.com'], mailboxes: [], aliases: {}, groups: { 'huge@example.com': members } });
  assert.deepEqual(summary(r.resolve('huge@example.com')), { reply: '550 5.3.4 <huge@example.com>: expands to more than 1000 addresses' });
});

test('resolve: a chain thousands of aliases deep resolves without recursion', () => {
  const depth = 20_000;
  const aliases: Record<string, string[]> = {};
  for (let i = 0; i < depth; i++) aliases[`a${i}@example.com`] = [`a${i + 1}@example.com`];
  const r = new RecipientResolver({ domains: ['example.com'], mailboxes: [], aliases, groups: {} });
  const got = r.resolve('a0@example.com');
  assert.ok(got.ok);
  assert.equal(got.recipients.length, 1);
  assert.equal(got.recipients[0]!.address, `a${depth}@example.com`);
  assert.equal(got.recipients[0]!.via.length, depth);
  assert.equal(got.recipients[0]!.via[0], 'a0@example.com');
});

const known: [address: string, known: boolean][] = [
  ['alice@example.com', true],
  ['ALICE@Example.Com', true],
  ['info@example.com', true],
  ['team@example.com', true],
  ['ghost@example.com', true],
  ['someone@remote.test', true],
  ['postmaster', true],
  ['postmaster@example.net', true],
  ['nobody@example.com', false],
  ['nobody@example.org', false],
  ['alice', false],
];

for (const [address, expected] of known) {
  test(`isKnown: ${address} is ${expected ? 'known' : 'unknown'}`, () => {
    assert.equal(resolver.isKnown(address), expected);
  });
}

function configIssues(opts: RecipientResolverOptions): readonly string[] {
  try {
    new RecipientResolver(opts);
  } catch (err) {
    assert.ok(err instanceof RecipientConfigError, String(err));
    assert.equal(err.code, 'RECIPIENTS_INVALID');
    return err.issues;
  }
  assert.fail('expected a RecipientConfigError');
}

test('config: every bad entry is named by its field', () => {
  const issues = configIssues({
    domains: ['example.com'],
    mailboxes: ['bob@example.com', 'no-at-sign', 'bob@elsewhere.test'],
    aliases: { 'list@example.com': ['ok@example.com', '@example.com'], 'Dup@Example.com': ['bob@example.com'], 'dup@example.com': ['bob@example.com'] },
    groups: { 'list@EXAMPLE.com': ['bob@example.com'], 'empty@example.com': [] },
  });
  assert.deepEqual(issues, [
    'recipients.mailboxes[1]: expected an address local@domain (got "no-at-sign")',
    'recipients.mailboxes[2]: bob@elsewhere.test is not in an accepted domain (domains: example.com)',
    'recipients.aliases["list@example.com"][1]: expected an address local@domain (got "@example.com")',
    'recipients.aliases["dup@example.com"]: dup@example.com is already defined as recipients.aliases["Dup@Example.com"] (addresses compare case-insensitively)',
    'recipients.groups["list@EXAMPLE.com"]: list@EXAMPLE.com is already defined as recipients.aliases["list@example.com"] (addresses compare case-insensitively)',
    'recipients.groups["empty@example.com"]: expected at least one member',
  ]);
});

test('config: no accepted domain and a bad maxExpansion are refused', () => {
  assert.deepEqual(configIssues({ domains: [], mailboxes: [], aliases: {}, groups: {} }), ['domains: expected at least one accepted domain']);
  assert.deepEqual(configIssues({ domains: ['example.com'], mailboxes: [], aliases: {}, groups: {}, maxExpansion: 0 }), ['maxExpansion: expected a positive integer (got 0)']);
});
