/**
 * The sandbox host's black box: a small file the host overwrites before each agent runs (a
 * synchronous pwrite at offset 0: page cache only, wakes nobody), naming the request and agent about
 * to run and the steps done so far. The server reads it only when the host died, to blame the agent
 * that was running. This replaces a `step` frame per agent, which cost a write, a wake-up of the
 * server and a parse there for every agent of every chain.
 */
import { Buffer } from 'node:buffer';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as v from 'valibot';
import { BlackBoxRecordSchema, type BlackBoxRecord, type Step } from './protocol.ts';

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

  /** The last record written, or undefined when there is none or it cannot be read (a torn or foreign write). */
  read(): BlackBoxRecord | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return undefined;
    }
    // A shorter record leaves the tail of a longer earlier one behind its newline.
    const end = text.indexOf('\n');
    if (end === -1) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text.slice(0, end));
    } catch {
      return undefined;
    }
    const parsed = v.safeParse(BlackBoxRecordSchema, value);
    return parsed.success ? parsed.output : undefined;
  }

  remove(): void {
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** A step as JSON, by hand: agent ids and outcomes never need escaping (protocol.ts's patterns), only an error text does. */
function stepJson(step: Step): string {
  const head = `{"agentId":"${step.agentId}","ms":${step.ms},"outcome":"${step.outcome}"`;
  return step.error === undefined ? `${head}}` : `${head},"error":${JSON.stringify(step.error)}}`;
}

/**
 * The host's side: one record per agent, into a reused buffer; the steps already done are serialized
 * once each, not once per record. The record's cost is one small pwrite (~1 µs).
 */
export class BlackBoxWriter {
  readonly #fd: number;
  #buffer = Buffer.allocUnsafe(16 * 1024);
  #id = -1;
  #doneJson = '';
  #doneCount = 0;
  #failed = false;

  /** Opens the file the server created. */
  constructor(file: string) {
    this.#fd = openSync(file, 'r+');
  }

  /** Before agent `agentId` of request `id` runs; `done` holds the steps finished so far in that request. */
  record(id: number, agentId: string, done: readonly Step[]): void {
    if (id !== this.#id || done.length < this.#doneCount) {
      this.#id = id;
      this.#doneJson = '';
      this.#doneCount = 0;
    }
    for (; this.#doneCount < done.length; this.#doneCount++) {
      const step = done[this.#doneCount] as Step;
      this.#doneJson += this.#doneCount === 0 ? stepJson(step) : `,${stepJson(step)}`;
    }
    const line = `{"id":${id},"agentId":"${agentId}","at":${Date.now()},"done":[${this.#doneJson}]}\n`;
    // Three bytes per UTF-16 unit at most (error texts may hold any character).
    if (line.length * 3 > this.#buffer.length) this.#buffer = Buffer.allocUnsafe(line.length * 3);
    const length = this.#buffer.write(line, 0, 'utf8');
    try {
      writeSync(this.#fd, this.#buffer, 0, length, 0);
    } catch (error) {
      // Attribution is lost, nothing else: a death then fails the call without naming the agent.
      if (!this.#failed) console.error(`sandbox host: cannot write the black box: ${error instanceof Error ? error.message : String(error)}`);
      this.#failed = true;
    }
  }

  close(): void {
    closeSync(this.#fd);
  }
}
