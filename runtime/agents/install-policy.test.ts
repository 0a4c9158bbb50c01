import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkUpgrade } from './install-policy.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

test('installs when nothing is installed and upgrades to a higher version', () => {
  assert.deepEqual(checkUpgrade(undefined, { version: '1.0.0', codeSha256: A }, false), { ok: true, action: 'install' });
  assert.deepEqual(checkUpgrade({ version: '1.0.0', codeSha256: A }, { version: '1.0.1', codeSha256: B }, false), { ok: true, action: 'upgrade' });
  assert.deepEqual(checkUpgrade({ version: '1.0.0-rc.1', codeSha256: A }, { version: '1.0.0', codeSha256: B }, false), { ok: true, action: 'upgrade' });
});

test('refuses a lower version unless forced', () => {
  const r = checkUpgrade({ version: '1.10.0', codeSha256: A }, { version: '1.9.0', codeSha256: B }, false);
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.code === 'DOWNGRADE' && /1\.9\.0 is lower than the installed 1\.10\.0/.test(r.message));
  const pre = checkUpgrade({ version: '1.0.0', codeSha256: A }, { version: '1.0.0-rc.9', codeSha256: B }, false);
  assert.ok(!pre.ok && pre.code === 'DOWNGRADE');
  assert.deepEqual(checkUpgrade({ version: '1.10.0', codeSha256: A }, { version: '1.9.0', codeSha256: B }, true), { ok: true, action: 'forced-downgrade' });
});

test('always refuses the same version with different code, even forced', () => {
  for (const force of [false, true]) {
    const r = checkUpgrade({ version: '2.0.0', codeSha256: A }, { version: '2.0.0', codeSha256: B }, force);
    assert.ok(!r.ok && r.code === 'SAME_VERSION_DIFFERENT_CODE', `force=${force}`);
  }
  // Build metadata does not make a new version.
  const build = checkUpgrade({ version: '2.0.0+1', codeSha256: A }, { version: '2.0.0+2', codeSha256: B }, true);
  assert.ok(!build.ok && build.code === 'SAME_VERSION_DIFFERENT_CODE');
});

test('treats the same version and code as a no-op', () => {
  assert.deepEqual(checkUpgrade({ version: '2.0.0', codeSha256: A }, { version: '2.0.0', codeSha256: A }, false), { ok: true, action: 'noop' });
  assert.deepEqual(checkUpgrade({ version: '2.0.0+x', codeSha256: A }, { version: '2.0.0', codeSha256: A }, true), { ok: true, action: 'noop' });
});
