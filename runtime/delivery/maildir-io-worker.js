// The Maildir writer's file I/O, run on a worker thread: synchronous open/write/fsync/rename per
// file, then one fsync per distinct new/ directory. Plain JavaScript so that any runtime can start
// it as a worker without a TypeScript loader. Protocol: { seq, jobs: [{ tmp, dest, dir, message }] }
// in, { seq, results: [{ ok: true } | { ok: false, code, message }] } out, in job order.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

function failure(err) {
  return { ok: false, code: typeof err?.code === 'string' ? err.code : 'EIO', message: String(err?.message ?? err) };
}

function removeQuietly(path) {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

function writeOne(job) {
  const fd = openSync(job.tmp, 'wx', 0o600);
  try {
    const data = job.message;
    let offset = 0;
    while (offset < data.byteLength) offset += writeSync(fd, data, offset, data.byteLength - offset, offset);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    removeQuietly(job.tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(job.tmp, job.dest);
  } catch (err) {
    removeQuietly(job.tmp);
    throw err;
  }
}

function syncDir(path) {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

parentPort.on('message', ({ seq, jobs }) => {
  const results = jobs.map((job) => {
    try {
      writeOne(job);
      return { ok: true };
    } catch (err) {
      return failure(err);
    }
  });
  // One fsync per distinct directory makes every rename of the batch into it durable.
  const byDir = new Map();
  jobs.forEach((job, i) => {
    if (!results[i].ok) return;
    const list = byDir.get(job.dir);
    if (list) list.push(i);
    else byDir.set(job.dir, [i]);
  });
  for (const [dir, indices] of byDir) {
    try {
      syncDir(dir);
    } catch (err) {
      // Not known durable: report the failure and take the files back, so a retry is no duplicate.
      for (const i of indices) {
        results[i] = failure(err);
        removeQuietly(jobs[i].dest);
      }
    }
  }
  parentPort.postMessage({ seq, results });
});
