import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareSemver, isSemver, isSemverRange, parseSemver, satisfies } from './semver.ts';

test('orders versions by SemVer §11 precedence, prerelease identifiers included', () => {
  // The chain from SemVer §11.4 plus core-number cases (numeric, not lexical: 1.10.0 > 1.9.0).
  const ordered = [
    '0.0.1',
    '0.1.0',
    '1.0.0-0',
    '1.0.0-1',
    '1.0.0-2',
    '1.0.0-10',
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.0.1',
    '1.9.0',
    '1.10.0',
    '2.0.0',
    '10.0.0',
  ];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      assert.equal(compareSemver(ordered[i]!, ordered[j]!), Math.sign(i - j), `${ordered[i]} vs ${ordered[j]}`);
    }
  }
});

test('ignores build metadata for precedence and compares alphanumerics in ASCII order', () => {
  assert.equal(compareSemver('1.0.0+build.1', '1.0.0+build.2'), 0);
  assert.equal(compareSemver('1.0.0-alpha+001', '1.0.0-alpha'), 0);
  assert.equal(compareSemver('1.0.0-Beta', '1.0.0-alpha'), -1); // 'B' < 'a' in ASCII
  assert.equal(compareSemver('1.0.0-a-b', '1.0.0-a'), 1);
  assert.equal(compareSemver('1.0.0-1a', '1.0.0-2'), 1); // '1a' is alphanumeric, so above any number
});

test('parses strict SemVer 2.0.0 and refuses everything else', () => {
  assert.deepEqual(parseSemver('1.2.3-rc.1+b.07'), { major: 1, minor: 2, patch: 3, prerelease: ['rc', 1], build: ['b', '07'] });
  for (const good of ['0.0.0', '1.0.0-x.7.z.92', '1.0.0-x-y-z.--', '1.0.0+20130313144700', '1.0.0-0A.is.legal', '1.0.0-alpha.0valid']) {
    assert.ok(isSemver(good), good);
  }
  const bad = ['', '1', '1.2', '1.2.3.4', 'v1.2.3', '01.0.0', '1.02.0', '1.0.03', '1.0.0-01', '1.0.0-', '1.0.0+', '1.0.0-a..b',
    '1.0.0+a..b', '1.0.0-a_b', ' 1.0.0', '1.0.0 ', '-1.0.0', '1.0.0-α', '99999999999999999.0.0', `1.0.0-${'a'.repeat(300)}`];
  for (const text of bad) assert.equal(parseSemver(text), null, JSON.stringify(text));
  assert.throws(() => compareSemver('1.0', '1.0.0'), RangeError);
});

test('parses a long hostile version in linear time', () => {
  const started = performance.now();
  for (let i = 0; i < 1000; i++) parseSemver(`1.0.0-${'a.'.repeat(120)}`);
  assert.ok(performance.now() - started < 2000);
});

test('satisfies caret, tilde, at-least and exact ranges as npm does', () => {
  const table: [string, string, boolean][] = [
    ['0.1.0', '^0.1.0', true],
    ['0.1.9', '^0.1.0', true],
    ['0.2.0', '^0.1.0', false],
    ['0.0.9', '^0.1.0', false],
    ['1.4.2', '^1.2.3', true],
    ['1.2.2', '^1.2.3', false],
    ['2.0.0', '^1.2.3', false],
    ['0.0.3', '^0.0.3', true],
    ['0.0.4', '^0.0.3', false],
    ['1.2.9', '~1.2.3', true],
    ['1.3.0', '~1.2.3', false],
    ['1.2.2', '~1.2.3', false],
    ['9.0.0', '>=1.2.3', true],
    ['1.2.2', '>=1.2.3', false],
    ['1.2.3', '1.2.3', true],
    ['1.2.3+build', '1.2.3', true],
    ['1.2.4', '1.2.3', false],
    ['2.0.0-rc.1', '>=1.0.0', false],
    ['1.2.3-rc.2', '^1.2.3-rc.1', true],
    ['1.2.3-rc.0', '^1.2.3-rc.1', false],
    ['1.2.4-rc.1', '^1.2.3-rc.1', false],
    ['1.2.3', 'junk', false],
    ['junk', '^1.0.0', false],
  ];
  for (const [version, range, expected] of table) assert.equal(satisfies(version, range), expected, `${version} in ${range}`);
  for (const range of ['^0.1.0', '~1.2.3', '>=1.0.0', '1.0.0', '^1.0.0-rc.1']) assert.ok(isSemverRange(range), range);
  for (const range of ['', '*', '1.x', '^1.0', '> 1.0.0', '>1.0.0', '<=1.0.0', '^ 1.0.0', '1.0.0 - 2.0.0', '^1.0.0 || ^2.0.0']) {
    assert.equal(isSemverRange(range), false, range);
  }
});
