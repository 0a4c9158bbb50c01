import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsEntryCommand } from '../platform/runtime-info.ts';
import { RawSmtpClient } from '../testing/raw-smtp-client.ts';
import { prng } from '../testing/prng.ts';
import { freePort } from '../testing/free-port.ts';

// The durability promise, end to end: a message that got `250` survives SIGKILL of the server at
// any moment. The server runs as a child process on the current runtime and is killed mid-stream
// several times over one data dir; after a last restart every acknowledged message must be in its
// recipients' Maildirs (duplicates allowed, losses not), and no delivered file may be partial.

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ENTRY = join(ROOT, 'runtime/testing/serve-entry.ts');
const ROUNDS = 4;
const CONNECTIONS = 4;
const SEED = 0x5eed_c0de;


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Child {
  process: ChildProcess;
  exited: Promise<{ code: number | null; signal: string | null }>;
  alive(): boolean;
}

/** Starts `serve` in a child process; its output goes to `log`. */
function startServer(port: number, dataDir: string, log: string[], label: string): Child {
  const { command, args } = tsEntryCommand(ENTRY);
  const child = spawn(
    command,
    [...args, 'serve', '--smtp', `127.0.0.1:${port}`, '--no-api', '--data', dataDir, '--domain', 'example.com', '--hostname', 'mx.test'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let running = true;
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      log.push(`[${label}] exited code=${code} signal=${signal}`);
      resolve({ code, signal });
    });
    child.once('error', (err) => {
      running = false;
      log.push(`[${label}] spawn error: ${err.message}`);
      resolve({ code: null, signal: null });
    });
  });
  const keep = (stream: string) => (d: Buffer) => {
    for (const line of d.toString('utf8').split('\n')) if (line !== '') log.push(`[${label} ${stream}] ${line}`);
  };
  child.stdout!.on('data', keep('out'));
  child.stderr!.on('data', keep('err'));
  return { process: child, exited, alive: () => running };
}

/** Polls until the port accepts a connection; fails if the child exits first. */
async function waitUntilListening(child: Child, port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!child.alive()) throw new Error('server exited before it listened');
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`server did not listen on ${port} within ${timeoutMs} ms`);
    await sleep(25);
  }
}

async function kill(child: Child): Promise<void> {
  if (child.alive()) child.process.kill('SIGKILL');
  await child.exited;
}

interface Sent {
  marker: string;
  recipients: string[];
}

/** The message for `marker`: a size that varies with `n`, ending in a line that only a complete copy has. */
function message(marker: string, recipients: string[], n: number): string {
  const filler = 'The quick brown fox jumps over the lazy dog, again and again and again.';
  const lines = [
    'From: crash@example.com',
    `To: ${recipients.join(', ')}`,
    `Subject: ${marker}`,
    `Message-ID: <${marker}@crash.test>`,
    '',
  ];
  // 1 to ~64 KiB: small ones stress the commit rate, big ones widen the window for torn writes.
  const count = n % 7 === 0 ? 900 : 1 + ((n * 37) % 60);
  for (let i = 0; i < count; i++) lines.push(`${i} ${filler}`);
  lines.push(`.dot-led line of ${marker}`);
  lines.push(`END ${marker}`);
  return `${lines.join('\r\n')}\r\n`;
}

/** One client connection sending messages one after another until the server goes away. */
async function sender(port: number, round: number, conn: number, acked: Sent[], stop: { now: boolean }): Promise<number> {
  let client: RawSmtpClient;
  try {
    client = await RawSmtpClient.connect(port);
  } catch {
    return 0;
  }
  let attempted = 0;
  try {
    if ((await client.reply()).code !== 220) return 0;
    if ((await client.command('EHLO crash.test')).code !== 250) return 0;
    for (let n = 0; !stop.now; n++) {
      const marker = `crash-r${round}-c${conn}-m${n}`;
      const recipients = n % 5 === 4 ? [`u${conn}@example.com`, 'shared@example.com'] : [`u${conn}@example.com`];
      attempted++;
      if ((await client.command('MAIL FROM:<crash@example.com>')).code !== 250) return attempted;
      for (const r of recipients) if ((await client.command(`RCPT TO:<${r}>`)).code !== 250) return attempted;
      if ((await client.command('DATA')).code !== 354) return attempted;
      client.write(`${message(marker, recipients, n)}.\r\n`);
      const done = await client.reply(10_000);
      if (done.code === 250) acked.push({ marker, recipients });
      else return attempted;
    }
  } catch {
    // The server was killed: the reply never came, so the message is not counted as accepted.
  } finally {
    client.close();
  }
  return attempted;
}

interface Delivered {
  /** marker → mailbox (`local`) → number of copies */
  copies: Map<string, Map<string, number>>;
  files: number;
  partial: string[];
}

/** Reads every file in `<data>/mailboxes/*\/*\/new/`. */
async function scanMailboxes(dataDir: string): Promise<Delivered> {
  const out: Delivered = { copies: new Map(), files: 0, partial: [] };
  const root = join(dataDir, 'mailboxes');
  const list = async (dir: string): Promise<string[]> => readdir(dir).catch(() => []);
  for (const domain of await list(root)) {
    for (const local of await list(join(root, domain))) {
      const dir = join(root, domain, local, 'new');
      for (const name of await list(dir)) {
        const text = (await readFile(join(dir, name))).toString('latin1');
        out.files++;
        const marker = /\r\nMessage-ID: <([^@>]+)@crash\.test>\r\n/.exec(text)?.[1];
        if (marker === undefined || !text.endsWith(`\r\nEND ${marker}\r\n`)) {
          out.partial.push(`${domain}/${local}/new/${name} (${text.length} bytes, ends ${JSON.stringify(text.slice(-60))})`);
          continue;
        }
        const byBox = out.copies.get(marker) ?? new Map<string, number>();
        byBox.set(`${local}@${domain}`, (byBox.get(`${local}@${domain}`) ?? 0) + 1);
        out.copies.set(marker, byBox);
      }
    }
  }
  return out;
}

function missing(acked: Sent[], delivered: Delivered): string[] {
  const lost: string[] = [];
  for (const m of acked) {
    for (const r of m.recipients) if (!delivered.copies.get(m.marker)?.get(r)) lost.push(`${m.marker} → ${r}`);
  }
  return lost;
}

test('no acknowledged message is lost or torn when the server is SIGKILLed mid-stream, round after round', { timeout: 120_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-crash-'));
  const log: string[] = [];
  const random = prng(SEED);
  const acked: Sent[] = [];
  let current: Child | null = null;
  try {
    const port = await freePort();
    const kills: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      current = startServer(port, dataDir, log, `round ${round}`);
      await waitUntilListening(current, port);
      // The lock file names the live process; the previous one's, left stale by SIGKILL, did not stop this start.
      assert.equal((await readFile(join(dataDir, 'sluice.pid'), 'utf8')).trim(), String(current.process.pid));

      const stop = { now: false };
      const before = acked.length;
      const senders = Array.from({ length: CONNECTIONS }, (_, conn) => sender(port, round, conn, acked, stop));
      const delay = 50 + Math.floor(random() * 350);
      await sleep(delay);
      await kill(current);
      stop.now = true;
      const attempted = (await Promise.all(senders)).reduce((a, b) => a + b, 0);
      kills.push(`round ${round}: killed after ${delay} ms, ${acked.length - before} of ${attempted} messages acknowledged`);
      log.push(kills.at(-1)!);
    }
    assert.ok(acked.length > 0, 'some messages were acknowledged before the kills');

    current = startServer(port, dataDir, log, 'final');
    await waitUntilListening(current, port);
    let delivered = await scanMailboxes(dataDir);
    for (const deadline = Date.now() + 30_000; missing(acked, delivered).length > 0 && Date.now() < deadline; ) {
      await sleep(100);
      delivered = await scanMailboxes(dataDir);
    }
    const lost = missing(acked, delivered);
    assert.deepEqual(lost.slice(0, 20), [], `${lost.length} of ${acked.length} acknowledged messages lost (${kills.join('; ')})`);
    assert.deepEqual(delivered.partial, [], 'partial files in new/');
    // Duplicates are allowed (a delivery may be redone after a crash), but nothing is delivered
    // to a mailbox it was not addressed to.
    for (const [marker, boxes] of delivered.copies) {
      const conn = /-c(\d+)-/.exec(marker)![1];
      for (const box of boxes.keys()) assert.ok(box === `u${conn}@example.com` || box === 'shared@example.com', `${marker} in ${box}`);
    }

    // SIGKILL interrupts writes, it does not corrupt what was written: recovery may cut a torn
    // tail but must never find damage to quarantine.
    const banners = log.filter((l) => /^\[[^\]]+ out\] +queue +\d+ message/.test(l));
    assert.equal(banners.length, ROUNDS + 1, 'every start printed its banner');
    for (const b of banners) assert.match(b, / 0 quarantined$/);
    assert.deepEqual(log.filter((l) => l.includes('quarantined') && !banners.includes(l)), []);

    // A clean stop after recovery. (Not judged by the exit status: Deno's child_process reports a
    // child that handled SIGTERM and exited 0 as killed by SIGTERM.)
    current.process.kill('SIGTERM');
    await current.exited;
    assert.ok(log.some((l) => l.startsWith('[final ') && l.includes('server.stopped')), 'the final server stops cleanly on SIGTERM');
    assert.deepEqual(await readdir(dataDir).then((names) => names.filter((n) => n === 'sluice.pid')), [], 'a clean stop removes the pid file');
  } catch (err) {
    // The children's output only matters when something went wrong.
    process.stderr.write(`--- server output (seed ${SEED}) ---\n${log.join('\n')}\n---\n`);
    throw err;
  } finally {
    if (current) await kill(current);
    await rm(dataDir, { recursive: true, force: true });
  }
});
