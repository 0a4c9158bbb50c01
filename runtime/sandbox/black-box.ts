/**
 * The sandbox host's black box: a file the host writes before each agent runs, naming the request
 * and agent about to run and the steps done so far. The server reads it only when the host died, to
 * blame the agent that was running. This replaces a `step` frame per agent, which cost a write, a
 * wake-up of the server and a parse there for every agent of every chain.
 *
 * The file is a sequence of lines, rewritten from offset 0 for each request: the first line of a
 * request holds every step done so far (`done`, usually none), each next line the one step finished
 * since (`prev`); `n` counts the steps before the line's agent. The reader follows the lines of one
 * request while `n` goes up by one, so whatever an earlier, longer request left behind the newest
 * line is never read as part of it. The host writes the lines into a shared mapping of the file
 * (runtime/sandbox/native, no system call: stores reach the page cache and survive the host's death)
 * or, when that addon is not built, with one pwrite each.
 */
import { Buffer } from 'node:buffer';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as v from 'valibot';
import { BlackBoxRecordSchema, StepSchema, type BlackBoxRecord, type Step } from './protocol.ts';

/** The file's size: room for the lines of a long chain with long error texts; beyond it the host starts over at 0. */
export const BLACK_BOX_BYTES = 256 * 1024;

/** Error texts of done steps are cut to this in the box (the answer frame carries them whole). */
export const BOX_ERROR_CHARS = 200;

const HeadSchema = v.object({ id: v.number(), n: v.number(), agentId: v.string(), at: v.number(), done: v.array(StepSchema) });
const NextSchema = v.object({ id: v.number(), n: v.number(), agentId: v.string(), at: v.number(), prev: StepSchema });

/** The server's side: creates the file (in a private temporary directory), reads it after a death, deletes it. */
export class BlackBox {
  readonly path: string;
  readonly #dir: string;

  private constructor(dir: string) {
    this.#dir = dir;
    this.path = path.join(dir, 'black-box');
    writeFileSync(this.path, '');
  }

  static create(): BlackBox {
    return new BlackBox(mkdtempSync(path.join(os.tmpdir(), 'sluice-host-')));
  }

  /** Empties the file (before a new host process starts writing it). */
  clear(): void {
    writeFileSync(this.path, '');
  }

  /** The record of the last request the host started, or undefined when there is none or it cannot be read. */
  read(): BlackBoxRecord | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return undefined;
    }
    let record: BlackBoxRecord | undefined;
    let n = -1;
    for (let start = 0; start < text.length; ) {
      const end = text.indexOf('\n', start);
      if (end === -1) break;
      let value: unknown;
      try {
        value = JSON.parse(text.slice(start, end));
      } catch {
        break;
      }
      start = end + 1;
      if (record === undefined) {
        const head = v.safeParse(HeadSchema, value);
        if (!head.success || head.output.n < head.output.done.length) break;
        const { id, agentId, at, done } = head.output;
        record = { id, agentId, at, done };
        n = head.output.n;
        continue;
      }
      const next = v.safeParse(NextSchema, value);
      if (!next.success || next.output.id !== record.id || next.output.n !== n + 1) break;
      record = { id: record.id, agentId: next.output.agentId, at: next.output.at, done: [...record.done, next.output.prev] };
      n = next.output.n;
    }
    if (record === undefined) return undefined;
    const checked = v.safeParse(BlackBoxRecordSchema, record);
    return checked.success ? checked.output : undefined;
  }

  remove(): void {
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** A step as JSON, by hand: agent ids and outcomes never need escaping (protocol.ts's patterns), only an error text does. */
function stepJson(step: Step): string {
  const head = `{"agentId":"${step.agentId}","ms":${step.ms},"outcome":"${step.outcome}"`;
  if (step.error === undefined) return `${head}}`;
  const error = step.error.length > BOX_ERROR_CHARS ? `${step.error.slice(0, BOX_ERROR_CHARS)}…` : step.error;
  return `${head},"error":${JSON.stringify(error)}}`;
}

type MapFile = (file: string, bytes: number) => ArrayBuffer;

/** The shared-page addon's mapFile, when it was built (scripts/ensure-native.mjs); undefined otherwise. */
function loadMapFile(): MapFile | undefined {
  try {
    const addon = createRequire(import.meta.url)('./native/build/Release/shared_page.node') as { mapFile?: unknown };
    return typeof addon.mapFile === 'function' ? (addon.mapFile as MapFile) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The host's side: one line per agent, into the shared mapping (or one pwrite). A step is serialized
 * once, into the line after it finished; a line costs ~0.3 µs mapped, ~1 µs with pwrite.
 */
export class BlackBoxWriter {
  /** Whether lines go into a shared mapping (else pwrite). */
  readonly mapped: boolean;
  readonly #fd: number | undefined;
  readonly #memory: Buffer;
  #id = -1;
  #n = -1;
  #offset = 0;
  #failed = false;

  /** Opens the file the server created; `map: false` writes with pwrite even when the addon is there. */
  constructor(file: string, options: { map?: boolean } = {}) {
    const mapFile = options.map === false ? undefined : loadMapFile();
    let memory: Buffer | undefined;
    if (mapFile !== undefined) {
      try {
        memory = Buffer.from(mapFile(file, BLACK_BOX_BYTES));
      } catch (error) {
        console.error(`sandbox host: cannot map the black box, writing it instead: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    this.mapped = memory !== undefined;
    this.#memory = memory ?? Buffer.allocUnsafe(BLACK_BOX_BYTES);
    this.#fd = memory === undefined ? openSync(file, 'r+') : undefined;
  }

  /** Before agent `agentId` of request `id` runs; `done` holds the steps finished so far in that request. */
  record(id: number, agentId: string, done: readonly Step[]): void {
    const n = done.length;
    const at = Date.now();
    let line: string;
    let offset: number;
    if (id === this.#id && n === this.#n + 1) {
      line = `{"id":${id},"n":${n},"agentId":"${agentId}","at":${at},"prev":${stepJson(done[n - 1] as Step)}}\n`;
      offset = this.#offset;
    } else {
      line = this.#head(id, agentId, at, done);
      offset = 0;
    }
    // Three bytes per UTF-16 unit at most (error texts may hold any character).
    if (offset + line.length * 3 > BLACK_BOX_BYTES) {
      line = this.#head(id, agentId, at, done);
      offset = 0;
    }
    const length = this.#memory.write(line, offset, 'utf8');
    this.#id = id;
    this.#n = n;
    this.#offset = offset + length;
    if (this.#fd === undefined) return;
    try {
      writeSync(this.#fd, this.#memory, offset, length, offset);
    } catch (error) {
      // Attribution is lost, nothing else: a death then fails the call without naming the agent.
      if (!this.#failed) console.error(`sandbox host: cannot write the black box: ${error instanceof Error ? error.message : String(error)}`);
      this.#failed = true;
    }
  }

  /**
   * A request's first line: every step done so far, or, in a chain of thousands of agents whose steps
   * do not fit in the file, the latest that do (`n` still counts them all).
   */
  #head(id: number, agentId: string, at: number, done: readonly Step[]): string {
    for (let kept = done; ; kept = kept.slice(Math.ceil(kept.length / 2))) {
      const line = `{"id":${id},"n":${done.length},"agentId":"${agentId}","at":${at},"done":[${kept.map(stepJson).join(',')}]}\n`;
      if (line.length * 3 <= BLACK_BOX_BYTES || kept.length === 0) return line;
    }
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
  }
}
