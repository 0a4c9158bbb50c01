/**
 * The API's audit trail: one JSON object per line appended to `<data>/audit.log` for every change
 * attempted (allowed, denied or failed). It never holds a token or request bodies, only who, what, and how it went.
 */
import { open, type FileHandle } from 'node:fs/promises';

export interface AuditEntry {
  /** ISO 8601, UTC. */
  time: string;
  /** Who: the token's name and role; null when the request had no valid token. */
  token: { name: string; role: string } | null;
  method: string;
  path: string;
  /** What was attempted: `agents.install`, `keys.revoke`, … */
  action: string;
  /** What it was attempted on: an agent name, a key id, a token id; null when not known. */
  target: string | null;
  outcome: 'ok' | 'denied' | 'error';
  status: number;
  /** The problem code when the outcome is not ok. */
  error: string | null;
  /** A few facts about the change (installed version, upgrade or install); never secrets or bundle bytes. */
  details?: Record<string, string | number | boolean | null>;
}

/** Appends audit lines in order; each line is written out (to the OS) before `append` resolves. */
export class AuditLog {
  readonly file: string;
  readonly #handle: FileHandle;
  #queue: Promise<void> = Promise.resolve();

  private constructor(file: string, handle: FileHandle) {
    this.file = file;
    this.#handle = handle;
  }

  static async open(file: string): Promise<AuditLog> {
    return new AuditLog(file, await open(file, 'a', 0o600));
  }

  append(entry: AuditEntry): Promise<void> {
    const line = `${JSON.stringify(entry)}\n`;
    const run = this.#queue.then(async () => {
      await this.#handle.write(line);
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    await this.#queue;
    await this.#handle.close();
  }
}
