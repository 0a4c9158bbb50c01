/**
 * Bodies that routing agents replaced, one file per queued message (`<dir>/<queue id>.body`). The
 * spooled message is never rewritten: its header edits are stored as edits and its new body here,
 * written durably before the categorization that refers to it is committed, and removed when the
 * message leaves the spool (or at start, when no live message refers to it any more).
 */
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomically } from '../platform/write-atomically.ts';

export class BodyStore {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async put(id: string, body: Uint8Array): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    await writeAtomically(this.#file(id), body);
  }

  async get(id: string): Promise<Uint8Array> {
    return new Uint8Array(await readFile(this.#file(id)));
  }

  async remove(id: string): Promise<void> {
    await unlink(this.#file(id)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Removes the bodies of messages no longer queued (a crash between completing a message and removing its body). */
  async sweep(live: ReadonlySet<string>): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      const id = name.endsWith('.body') ? name.slice(0, -5) : null;
      if (id === null || live.has(id)) continue;
      await this.remove(id);
      removed++;
    }
    return removed;
  }

  #file(id: string): string {
    if (!/^[0-9A-Za-z]{8,40}$/.test(id)) throw new Error(`not a queue id: ${id}`);
    return join(this.#dir, `${id}.body`);
  }
}
