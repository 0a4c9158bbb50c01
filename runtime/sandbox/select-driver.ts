/** Picks the sandbox driver for this process: the isolated-vm host process where a Node with isolated-vm can run it, else the portable QuickJS driver. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runtimeName } from '../platform/runtime-info.ts';
import type { SandboxDriver } from './protocol.ts';
import { QuickJsDriver, type QuickJsDriverOptions } from './quickjs-driver.ts';
import { SandboxHost, type SandboxHostOptions } from './sandbox-host.ts';

export type SandboxDriverName = 'isolated-vm host process' | 'quickjs-wasm in-process';
export type SandboxDriverPreference = 'isolated-vm' | 'quickjs';

export interface SelectSandboxDriverOptions {
  /** Forces one driver instead of choosing (tests, and a future config field). */
  prefer?: SandboxDriverPreference;
  /** How long the probe for a `node` that loads isolated-vm may take on Bun and Deno (default 5000 ms). */
  probeTimeoutMs?: number;
  /** Options for the host process driver, when it is chosen. */
  host?: SandboxHostOptions;
  /** Options for the QuickJS driver, when it is chosen. */
  quickjs?: QuickJsDriverOptions;
}

export interface SelectedSandboxDriver {
  /** Not started yet: call `start()`. */
  driver: SandboxDriver;
  name: SandboxDriverName;
  /** What this driver does and does not promise, in short sentences for the operator. */
  guarantees: string[];
  /** Why this driver was chosen. */
  reason: string;
}

export const ISOLATED_VM_GUARANTEES: readonly string[] = [
  'each agent runs in its own V8 isolate, in a Node sandbox host process separate from the server',
  'CPU budget enforced by V8 terminating the isolate at the timeout',
  "heap capped by isolated-vm's memory limit per agent; an allocation V8 cannot contain aborts only the host process, which is restarted and the running agent blamed",
  'a crash of the host process is contained: the running agent fails under its policy and the others are reloaded',
  "agent code never runs on the server's event loop",
];

export const QUICKJS_GUARANTEES: readonly string[] = [
  'each agent runs in its own QuickJS-ng WebAssembly instance with a fixed memory: the agent limit plus 8 MiB for the engine, never more',
  'CPU budget enforced by an interrupt handler the engine calls while it runs; one long native operation (a huge String.repeat) finishes before it is stopped',
  'an agent that times out, runs out of memory or faults the engine is rebuilt from its code before its next event',
  "runs in the server process: a QuickJS engine bug is not isolated by a process boundary, and agent code runs on the server's event loop for up to its budget",
  'an interpreter without a JIT: CPU-bound agent code runs about 20 times slower than under V8, so the same budget buys less work',
];

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROBE_TIMEOUT_MS = 5000;
const PROBE_OUTPUT_CAP = 2000;

/** What the host process needs from `node`: the tsx loader, and an isolate that runs (an addon for another ABI loads and then fails). */
const PROBE = `
require.resolve('tsx');
const ivm = require('isolated-vm');
const isolate = new ivm.Isolate({ memoryLimit: 8 });
const result = isolate.compileScriptSync('6 * 7').runSync(isolate.createContextSync());
isolate.dispose();
if (result !== 42) throw new Error('isolated-vm returned ' + result);
`;

export type ProbeResult = { ok: true } | { ok: false; reason: string };

/**
 * Whether `command` (default `node` on PATH) can run the sandbox host: spawns it from this package's
 * directory, as SandboxHost does, and has it load isolated-vm and run an isolate within `timeoutMs`.
 */
export function probeIsolatedVmHost(options: { command?: string; timeoutMs?: number } = {}): Promise<ProbeResult> {
  const command = options.command ?? 'node';
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  return new Promise((resolve) => {
    let output = '';
    let settled = false;
    const finish = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const child = spawn(command, ['--no-node-snapshot', '-e', PROBE], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ ok: false, reason: `${command} did not answer within ${timeoutMs} ms` });
    }, timeoutMs);
    child.stderr?.on('data', (chunk: Uint8Array) => {
      if (output.length < PROBE_OUTPUT_CAP) output += new TextDecoder().decode(chunk);
    });
    child.on('error', (error) => finish({ ok: false, reason: `${command} could not be started: ${error.message}` }));
    child.on('close', (code, signal) => {
      if (code === 0) return finish({ ok: true });
      // The first line that names the problem (node prints the thrown error after the source line).
      const line = output.split('\n').find((l) => /error|cannot|not found/i.test(l))?.trim() ?? output.trim().split('\n')[0] ?? '';
      finish({ ok: false, reason: `${command} ${signal !== null ? `was killed by ${signal}` : `exited with code ${String(code)}`}${line ? `: ${line.slice(0, 300)}` : ''}` });
    });
  });
}

const probes = new Map<string, Promise<ProbeResult>>();

function isolatedVm(options: SelectSandboxDriverOptions, reason: string): SelectedSandboxDriver {
  return { driver: new SandboxHost(options.host), name: 'isolated-vm host process', guarantees: [...ISOLATED_VM_GUARANTEES], reason };
}

function quickJs(options: SelectSandboxDriverOptions, reason: string): SelectedSandboxDriver {
  return { driver: new QuickJsDriver(options.quickjs), name: 'quickjs-wasm in-process', guarantees: [...QUICKJS_GUARANTEES], reason };
}

/**
 * The driver for this process. On Node the host process runs on this same executable; on Bun and
 * Deno it needs a `node` on PATH that loads isolated-vm from this package, which is probed once here.
 * Rejects only for bad options (with the option named).
 */
export async function selectSandboxDriver(options: SelectSandboxDriverOptions = {}): Promise<SelectedSandboxDriver> {
  const { prefer, probeTimeoutMs } = options;
  if (prefer !== undefined && prefer !== 'isolated-vm' && prefer !== 'quickjs') {
    throw new TypeError(`prefer: must be 'isolated-vm' or 'quickjs', got ${JSON.stringify(prefer)}`);
  }
  if (probeTimeoutMs !== undefined && !(Number.isInteger(probeTimeoutMs) && probeTimeoutMs > 0)) {
    throw new TypeError(`probeTimeoutMs: must be a positive integer, got ${String(probeTimeoutMs)}`);
  }
  if (prefer === 'isolated-vm') return isolatedVm(options, 'forced by prefer: isolated-vm');
  if (prefer === 'quickjs') return quickJs(options, 'forced by prefer: quickjs');
  if (runtimeName === 'node') return isolatedVm(options, 'running on Node: the host process uses this executable');
  // One probe per PATH and process: a server (or a test run) starting many times spawns it once.
  const key = `${process.env.PATH ?? ''}\0${probeTimeoutMs ?? PROBE_TIMEOUT_MS}`;
  let probing = probes.get(key);
  if (probing === undefined) probes.set(key, (probing = probeIsolatedVmHost({ timeoutMs: probeTimeoutMs ?? PROBE_TIMEOUT_MS })));
  const probe = await probing;
  if (probe.ok) return isolatedVm(options, `running on ${runtimeName}: node on PATH loads isolated-vm`);
  return quickJs(options, `running on ${runtimeName} and no usable node for the host process (${probe.reason})`);
}
