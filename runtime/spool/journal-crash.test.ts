// Tests that a SIGKILL at any moment loses no message whose accept() had resolved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { JournalStore } from './journal-store.ts';
import { messageFor, runtimeCommand, sizeFor, withTempDir } from './journal-test-kit.ts';

/** Runs the child until it has confirmed `count` accepts, kills it with SIGKILL, returns the ids it printed. */
async function acceptUntilKilled(dir: string, count: number): Promise<string[]> {
  const script = fileURLToPath(new URL('./journal-crash-child.ts', import.meta.url));
  const { command, args, cwd } = runtimeCommand(script, [dir]);
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<string | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.split('\n').length > count + 2) child.kill('SIGKILL');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const signal = await exited;
  clearTimeout(timer);
  assert.equal(signal, 'SIGKILL', `child ended on its own: ${err}`);
  const lines = out.split('\n');
  lines.pop(); // possibly a partial line
  assert.equal(lines.shift(), 'ready', err);
  return lines;
}

test(
  'every accept that resolved before a SIGKILL is present and intact after reopen',
  { timeout: 30_000 },
  async () => {
    await withTempDir(async (dir) => {
      const ids = await acceptUntilKilled(dir, 400);
      assert.ok(ids.length >= 400, `only ${ids.length} accepts confirmed`);

      const store = new JournalStore({ dir, segmentBytes: 64 * 1024 });
      const report = await store.open();
      assert.deepEqual(report.quarantined, []);
      assert.ok(report.recovered >= ids.length);
      for (const id of ids) assert.deepEqual(await store.read(id), messageFor(id, sizeFor(id)), id);
      // Nothing half-written is claimable: every claimable message reads back whole.
      const claims = await store.claim(Date.now() + 60_000, 100_000, 60_000);
      assert.equal(claims.length, report.recovered);
      for (const claim of claims) {
        const { id } = claim.envelope;
        assert.deepEqual(await store.read(id), messageFor(id, sizeFor(id)));
      }
      await store.close();
    });
  },
);
