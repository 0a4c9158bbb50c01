// Tests for a full disk: the kernel's real ENOSPC (from /dev/full) rejects accept and never resolves it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SpoolError } from './spool-error.ts';
import { JournalStore } from './journal-store.ts';
import { captureLog, makeEnvelope, messageFor, openStore, withTempDir } from './journal-test-kit.ts';
import { segmentFileName } from './segment-header.ts';

/** Mounts a tmpfs of `kib` KiB at `dir` for the duration of `fn`; false if this host cannot (not root, say). */
async function withTinyTmpfs(dir: string, kib: number, fn: () => Promise<void>): Promise<boolean> {
  await mkdir(dir);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return false;
  }
  try {
    await fn();
  } finally {
    execFileSync('umount', [dir], { stdio: 'ignore' });
  }
  return true;
}

test('accept rejects with SPOOL_FULL when the segment write hits ENOSPC, and the store keeps working', async () => {
  await withTempDir(async (dir) => {
    const { log, lines } = captureLog();
    const store = await openStore({ dir, segmentBytes: 4096, log });
    const kept = makeEnvelope();
    await store.accept(kept, [messageFor(kept.id, 1000)]);
    // The next segment the store creates is /dev/full: every write to it fails with ENOSPC.
    await symlink('/dev/full', join(dir, 'journal', segmentFileName(2)));

    const lost = makeEnvelope();
    let resolved = false;
    const attempt = store.accept(lost, [messageFor(lost.id, 5000)]).then(() => (resolved = true));
    await assert.rejects(attempt, (err: unknown) => {
      assert.ok(err instanceof SpoolError);
      assert.equal(err.code, 'SPOOL_FULL');
      return true;
    });
    assert.equal(resolved, false);
    assert.equal(store.journalStats().failedFlushes, 1);
    assert.ok(lines.some((line) => line.level === 'error' && /sealed/.test(line.msg)));
    await assert.rejects(store.read(lost.id), { code: 'NOT_FOUND' });

    const after = makeEnvelope();
    await store.accept(after, [messageFor(after.id, 1000)]);
    await store.close();

    const reopened = await openStore({ dir, segmentBytes: 4096, log });
    assert.equal(reopened.stats().messages, 2);
    assert.deepEqual(await reopened.read(kept.id), messageFor(kept.id, 1000));
    assert.deepEqual(await reopened.read(after.id), messageFor(after.id, 1000));
    await assert.rejects(reopened.read(lost.id), { code: 'NOT_FOUND' });
    await reopened.close();
  });
});

test('every caller in a batch that hits ENOSPC is rejected, none resolves'
, async () => {
  await withTempDir(async (dir) => {
    const store = await openStore({ dir, segmentBytes: 4096 });
    const first = makeEnvelope();
    await store.accept(first, [messageFor(first.id, 3000)]);
    await symlink('/dev/full', join(dir, 'journal', segmentFileName(2)));
    const batch = Array.from({ length: 8 }, () => makeEnvelope());
    const results = await Promise.allSettled(batch.map((e) => store.accept(e, [messageFor(e.id, 600)])));
    assert.ok(results.every((r) => r.status === 'rejected' && (r.reason as SpoolError).code === 'SPOOL_FULL'));
    assert.equal(store.stats().messages, 1);
    await store.close();
  });
});

test('a write cut short by a full file system is truncated back and the segment keeps going once there is room', async () => {
  await withTempDir(async (root) => {
    const mount = join(root, 'mnt');
    const mounted = await withTinyTmpfs(mount, 256, async () => {
      const dir = join(mount, 'spool');
      const filler = join(mount, 'filler');
      await writeFile(filler, Buffer.alloc(64 * 1024, 1));
      const { log, lines } = captureLog();
      const store = await openStore({ dir, log });
      const acked: string[] = [];
      let failure: unknown;
      for (let i = 0; i < 100 && !failure; i++) {
        const envelope = makeEnvelope();
        await store.accept(envelope, [messageFor(envelope.id, 4000)]).then(
          () => acked.push(envelope.id),
          (err: unknown) => (failure = err),
        );
      }
      assert.ok(acked.length > 10, `${acked.length} accepted before the disk filled`);
      assert.ok(failure instanceof SpoolError && failure.code === 'SPOOL_FULL', String(failure));
      assert.ok(lines.some((line) => /truncated to the last good offset/.test(line.msg)));

      await rm(filler);
      const after = makeEnvelope();
      await store.accept(after, [messageFor(after.id, 4000)]);
      acked.push(after.id);
      assert.equal(store.journalStats().segmentsCreated, 1, 'no new segment was needed');
      await store.close();

      const reopened = new JournalStore({ dir });
      const report = await reopened.open();
      assert.deepEqual(report, { recovered: acked.length, quarantined: [] });
      for (const id of acked) assert.deepEqual(await reopened.read(id), messageFor(id, 4000));
      await reopened.close();
    });
    // The suite runs as root (CI too); a machine that cannot mount must fail loudly, not skip.
    assert.ok(mounted, 'could not mount a tmpfs: this test needs root');
  });
});
