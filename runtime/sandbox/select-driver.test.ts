// Driver selection: forced choices, the automatic choice on this machine, the fallback without node, and the probe's failures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runtimeName } from '../platform/runtime-info.ts';
import { QuickJsDriver } from './quickjs-driver.ts';
import { SandboxHost } from './sandbox-host.ts';
import { probeIsolatedVmHost, selectSandboxDriver, type SelectedSandboxDriver } from './select-driver.ts';

const AGENT = "globalThis.agent = { onMailFrom(event) { return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'no ' + event.from }; } };";

/** Starts the chosen driver, runs one agent through it, and closes it. */
async function runsAnAgent(selected: SelectedSandboxDriver): Promise<void> {
  const { driver } = selected;
  await driver.start();
  try {
    assert.deepEqual(await driver.load({ agentId: 'probe', code: AGENT, memoryMiB: 32 }), { ok: true });
    const result = await driver.runChain('onMailFrom', { from: 'a@example.org' }, [{ agentId: 'probe', budgetMs: 1000 }]);
    assert.deepEqual(result.verdict, { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'no a@example.org' });
  } finally {
    await driver.close();
  }
}

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'sluice-select-'));
}

async function script(dir: string, name: string, body: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
  return file;
}

test('prefer quickjs gives the in-process QuickJS driver, which says it has no process boundary', async () => {
  const selected = await selectSandboxDriver({ prefer: 'quickjs', quickjs: { onAgentLog: () => {} } });
  assert.equal(selected.name, 'quickjs-wasm in-process');
  assert.ok(selected.driver instanceof QuickJsDriver);
  assert.ok(selected.guarantees.some((g) => /not isolated by a process boundary/.test(g)));
  assert.ok(selected.guarantees.some((g) => /fixed memory/.test(g)));
  await runsAnAgent(selected);
});

test('prefer isolated-vm gives the host process driver, which runs an agent', async () => {
  const selected = await selectSandboxDriver({ prefer: 'isolated-vm', host: { onLog: () => {} } });
  assert.equal(selected.name, 'isolated-vm host process');
  assert.ok(selected.driver instanceof SandboxHost);
  assert.ok(selected.guarantees.some((g) => /separate from the server/.test(g)));
  await runsAnAgent(selected);
});

test('without a preference, this machine (node with isolated-vm on PATH) gets the host process on every runtime', async () => {
  const selected = await selectSandboxDriver({ host: { onLog: () => {} } });
  assert.equal(selected.name, 'isolated-vm host process', selected.reason);
  assert.match(selected.reason, runtimeName === 'node' ? /running on Node/ : /node on PATH loads isolated-vm/);
});

test('without node on PATH, Bun and Deno fall back to QuickJS and say why; Node keeps its own executable', async () => {
  const empty = await tempDir();
  const saved = process.env.PATH;
  process.env.PATH = empty;
  try {
    const selected = await selectSandboxDriver({ host: { onLog: () => {} } });
    if (runtimeName === 'node') {
      assert.equal(selected.name, 'isolated-vm host process');
    } else {
      assert.equal(selected.name, 'quickjs-wasm in-process');
      assert.match(selected.reason, /no usable node for the host process \(node could not be started/);
      await runsAnAgent(selected);
    }
  } finally {
    process.env.PATH = saved;
    await rm(empty, { recursive: true, force: true });
  }
});

test('the probe accepts the node on PATH', async () => {
  assert.deepEqual(await probeIsolatedVmHost(), { ok: true });
});

test('the probe refuses a node that cannot load isolated-vm, one that hangs, and one that does not exist, saying which', async () => {
  const dir = await tempDir();
  try {
    const broken = await script(dir, 'node-broken', "echo \"Error: Cannot find module 'isolated-vm'\" >&2; exit 1");
    const hanging = await script(dir, 'node-hanging', 'exec sleep 30');
    assert.deepEqual(await probeIsolatedVmHost({ command: broken }), { ok: false, reason: `${broken} exited with code 1: Error: Cannot find module 'isolated-vm'` });
    const started = performance.now();
    assert.deepEqual(await probeIsolatedVmHost({ command: hanging, timeoutMs: 300 }), { ok: false, reason: `${hanging} did not answer within 300 ms` });
    assert.ok(performance.now() - started < 5000, 'the hanging probe was given up on');
    const missing = await probeIsolatedVmHost({ command: path.join(dir, 'no-such-node') });
    assert.equal(missing.ok, false);
    assert.match(missing.ok ? '' : missing.reason, /could not be started/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bad options are refused with the option named', async () => {
  await assert.rejects(selectSandboxDriver({ prefer: 'v8' as 'quickjs' }), /prefer: must be 'isolated-vm' or 'quickjs', got "v8"/);
  await assert.rejects(selectSandboxDriver({ probeTimeoutMs: -1 }), /probeTimeoutMs/);
});
