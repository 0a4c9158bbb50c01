/**
 * For the pipeline crash tests: a `sluice serve` child process (on the current runtime) that can be
 * SIGKILLed, its output kept for waiting on log lines; sending over SMTP; and reading, between a
 * kill and the restart, what the spool had recorded and what the Maildirs hold.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsEntryCommand } from '../platform/runtime-info.ts';
import { RawSmtpClient } from '../testing/raw-smtp-client.ts';
import { JournalStore } from '../spool/journal-store.ts';
import type { DeliveryState } from '../spool/store.ts';
import { until } from '../testing/until.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ENTRY = join(ROOT, 'runtime/testing/serve-entry.ts');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export { until } from '../testing/until.ts';
export { freePort } from '../testing/free-port.ts';

/** A running `sluice serve`; every output line goes to the shared `log`, prefixed with the label. */
export class ServerChild {
  readonly label: string;
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  readonly #log: string[];
  #running = true;

  constructor(label: string, serveArgs: string[], log: string[]) {
    this.label = label;
    this.#log = log;
    const { command, args } = tsEntryCommand(ENTRY);
    this.process = spawn(command, [...args, 'serve', ...serveArgs], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.process.once('exit', (code, signal) => {
        this.#running = false;
        log.push(`[${label}] exited code=${code} signal=${signal}`);
        resolve({ code, signal });
      });
      this.process.once('error', (err) => {
        this.#running = false;
        log.push(`[${label}] spawn error: ${err.message}`);
        resolve({ code: null, signal: null });
      });
    });
    // Lines may be split across chunks: keep the unfinished tail for the next one.
    const keep = (stream: string): ((d: Buffer) => void) => {
      let tail = '';
      return (d) => {
        const lines = (tail + d.toString('utf8')).split('\n');
        tail = lines.pop() ?? '';
        for (const line of lines) if (line !== '') log.push(`[${label} ${stream}] ${line}`);
      };
    };
    this.process.stdout!.on('data', keep('out'));
    this.process.stderr!.on('data', keep('err'));
  }

  alive(): boolean {
    return this.#running;
  }

  /** This child's output lines so far. */
  lines(): string[] {
    const prefix = `[${this.label} `;
    return this.#log.filter((l) => l.startsWith(prefix));
  }

  /** Waits for an output line matching `re`; fails early if the child exits. */
  waitForLine(re: RegExp, timeoutMs = 20_000): Promise<string> {
    return until(`a line matching ${re} from ${this.label}`, () => {
      const line = this.lines().find((l) => re.test(l));
      if (line === undefined && !this.alive()) throw new Error(`${this.label} exited before printing a line matching ${re}`);
      return line;
    }, timeoutMs);
  }

  async waitUntilListening(port: number, timeoutMs = 20_000): Promise<void> {
    await until(`${this.label} to listen on ${port}`, async () => {
      if (!this.alive()) throw new Error(`${this.label} exited before it listened`);
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect({ port, host: '127.0.0.1' }, () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      return ok ? true : undefined;
    }, timeoutMs);
  }

  async kill(): Promise<void> {
    if (this.alive()) this.process.kill('SIGKILL');
    await this.exited;
  }

  /** A clean stop (SIGTERM): the server finishes the batches in flight and records them. */
  async stop(): Promise<void> {
    if (this.alive()) this.process.kill('SIGTERM');
    await this.exited;
  }
}

export interface Outgoing {
  /** Message-ID without brackets; also the subject. */
  messageId: string;
  from: string;
  /** RCPT TO lines' contents: the address, then any parameters (`b@x.test NOTIFY=FAILURE`). */
  rcpts: string[];
  /** Extra header lines. */
  headers?: string[];
}

export function messageText(m: Outgoing): string {
  const to = m.rcpts.map((r) => r.split(' ')[0]).join(', ');
  return [`From: ${m.from}`, `To: ${to}`, `Subject: ${m.messageId}`, `Message-ID: <${m.messageId}>`, ...(m.headers ?? []), '', `Body of ${m.messageId}.`, ''].join('\r\n');
}

/** Sends the messages one after another on one connection; every one must get its 250. Returns the queue ids. */
export async function sendAll(port: number, messages: readonly Outgoing[]): Promise<string[]> {
  const client = await RawSmtpClient.connect(port);
  const ids: string[] = [];
  try {
    const expect = async (code: number, line: string | null): Promise<string> => {
      const reply = line === null ? await client.reply(10_000) : await client.command(line, 10_000);
      if (reply.code !== code) throw new Error(`${line ?? 'end of data'}: expected ${code}, got ${reply.code} ${reply.text}`);
      return reply.text;
    };
    await expect(220, null);
    await expect(250, 'EHLO client.test');
    for (const m of messages) {
      await expect(250, `MAIL FROM:<${m.from}>`);
      for (const r of m.rcpts) {
        const [address, ...params] = r.split(' ');
        await expect(250, `RCPT TO:<${address}>${params.length > 0 ? ` ${params.join(' ')}` : ''}`);
      }
      await expect(354, 'DATA');
      client.write(`${messageText(m)}.\r\n`);
      const done = await expect(250, null);
      const id = /queued as (\S+)/.exec(done)?.[1];
      if (id === undefined) throw new Error(`no queue id in ${JSON.stringify(done)}`);
      ids.push(id);
    }
    await client.command('QUIT').catch(() => undefined);
  } finally {
    client.close();
  }
  return ids;
}

/** What the spool holds for one live message. */
export interface SpoolEntrySnapshot {
  state: DeliveryState;
  /** Routed recipients (lowercase) recorded as delivered. */
  delivered: Set<string>;
}

/**
 * Opens the spool of a stopped server, reads every live message's recorded state, and closes it.
 * A message that is absent was completed: every recipient final. (Replay does what the next start
 * would do anyway: it only cuts a torn tail, which the crash tests check is absent.)
 */
export async function readSpool(dataDir: string): Promise<{ entries: Map<string, SpoolEntrySnapshot>; quarantined: number }> {
  const spool = new JournalStore({ dir: join(dataDir, 'spool') });
  const report = await spool.open();
  try {
    const entries = new Map<string, SpoolEntrySnapshot>();
    for (const m of spool.list()) {
      const delivered = new Set((m.state.routed ?? []).filter((r) => r.status.state === 'delivered').map((r) => r.address.toLowerCase()));
      entries.set(m.envelope.id, { state: m.state, delivered });
    }
    return { entries, quarantined: report.quarantined.length };
  } finally {
    await spool.close();
  }
}

/** Message-ID → mailbox (`local@domain`) → copies, over every `<data>/mailboxes/*\/*\/new/` file. */
export async function scanMaildirs(dataDir: string): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  const root = join(dataDir, 'mailboxes');
  const list = async (dir: string): Promise<string[]> => readdir(dir).catch(() => []);
  for (const domain of await list(root)) {
    for (const local of await list(join(root, domain))) {
      const dir = join(root, domain, local, 'new');
      for (const name of await list(dir)) {
        const text = (await readFile(join(dir, name))).toString('latin1');
        const id = /\r\nMessage-ID: <([^>\r\n]+)>\r\n/i.exec(text)?.[1] ?? `(no Message-ID: ${name})`;
        const boxes = out.get(id) ?? new Map<string, number>();
        const box = `${local}@${domain}`;
        boxes.set(box, (boxes.get(box) ?? 0) + 1);
        out.set(id, boxes);
      }
    }
  }
  return out;
}
