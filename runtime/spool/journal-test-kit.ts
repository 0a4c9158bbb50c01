// Helpers shared by the spool tests: temp dirs, envelopes, deterministic messages, log capture, child runtimes.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Envelope } from './envelope.ts';
import type { SpoolLog } from './journal-options.ts';
import type { LogLevel } from '../log/logger.ts';
import { JournalStore } from './journal-store.ts';
import type { JournalStoreOptions } from './journal-options.ts';
import { newQueueId } from './queue-id.ts';

/** Runs `fn` with a fresh directory that is removed afterwards, pass or fail. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-spool-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function makeEnvelope(overrides: Partial<Envelope> = {}): Envelope {
  return {
    id: newQueueId(),
    sender: 'alice@example.org',
    recipients: [{ address: 'bob@example.net' }, { address: 'carol@example.com', notify: ['FAILURE', 'DELAY'] }],
    receivedAt: Date.now(),
    size: 0,
    bodyType: '8BITMIME',
    smtputf8: false,
    client: { address: '192.0.2.7', port: 52100, helo: 'mx.example.org', tls: true },
    ...overrides,
  };
}

/** A message whose bytes follow from its id, so a reader can check it without keeping a copy. */
export function messageFor(id: string, size = 1024): Uint8Array {
  const head = Buffer.from(`Message-ID: <${id}@test>\r\nSubject: spool test\r\n\r\n`);
  const out = new Uint8Array(Math.max(size, head.length));
  out.set(head);
  let x = 0;
  for (const ch of id) x = (x * 31 + ch.charCodeAt(0)) >>> 0;
  for (let i = head.length; i < out.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** The size `messageFor` uses for an id in tests that vary sizes (100 … 4,100 bytes). */
export function sizeFor(id: string): number {
  let x = 0;
  for (const ch of id) x = (x * 33 + ch.charCodeAt(0)) % 4001;
  return 100 + x;
}

export interface LogLine {
  level: LogLevel;
  msg: string;
  fields: Record<string, unknown> | undefined;
}

export function captureLog(): { log: SpoolLog; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { lines, log: (level, msg, fields) => void lines.push({ level, msg, fields }) };
}

export async function openStore(options: JournalStoreOptions): Promise<JournalStore> {
  const store = new JournalStore(options);
  await store.open();
  return store;
}

export async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'journal'))).filter((name) => name.endsWith('.log')).sort();
}

/** Polls until `check` holds; fails after `ms`. */
export async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The command line that runs a TypeScript file under the runtime running these tests. */
export function runtimeCommand(script: string, args: string[]): { command: string; args: string[]; cwd: string } {
  const cwd = fileURLToPath(new URL('../../', import.meta.url));
  const command = process.execPath;
  if ('Deno' in globalThis) return { command, args: ['run', '-A', script, ...args], cwd };
  if ('Bun' in globalThis) return { command, args: [script, ...args], cwd };
  return { command, args: ['--import', 'tsx', script, ...args], cwd };
}
