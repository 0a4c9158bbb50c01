// The host-process driver with several requests in flight: order, per-request deadlines, re-sending after a death, the black box.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { SandboxHost } from './sandbox-host.ts';
import { agentCode } from './conformance-agents.ts';
import { FrameError, MAX_FRAME_BYTES } from './frame-codec.ts';

const ECHO = agentCode("return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'no ' + event.from };");
const say = (text: string): string => agentCode(`return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: '${text}' };`);
/** Keeps the host busy in a synchronous loop for `ms` of wall time, then answers `text`. */
const busy = (ms: number, text: string): string =>
  agentCode(`const t = Date.now(); while (Date.now() - t < ${ms}) {} return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: '${text}' };`);

async function started(marginMs = 2000): Promise<SandboxHost> {
  const host = new SandboxHost({ marginMs, onLog: () => {} });
  await host.start();
  return host;
}

async function mustLoad(host: SandboxHost, agentId: string, code: string, memoryMiB = 32): Promise<void> {
  assert.deepEqual(await host.load({ agentId, code, memoryMiB }), { ok: true }, `loading ${agentId}`);
}

const textOf = (result: { verdict: { verdict: string; text?: string } }): string | undefined => result.verdict.text;

test('many runs in flight at once are each answered with their own result', async () => {
  const host = await started();
  try {
    await mustLoad(host, 'echo', ECHO);
    const froms = Array.from({ length: 40 }, (_, i) => `sender-${i}@example.org`);
    const results = await Promise.all(froms.map((from) => host.runChain('onMailFrom', { from }, [{ agentId: 'echo', budgetMs: 500 }])));
    assert.deepEqual(results.map(textOf), froms.map((from) => `no ${from}`));
    assert.ok(results.every((r) => r.decidedBy === 'echo' && r.steps.length === 1 && r.steps[0]?.outcome === 'ok'));
  } finally {
    await host.close();
  }
});

test("a request's deadline runs from when the host starts it, not from when it was sent", async () => {
  // The quick chain's deadline is 100 + 100 + 300 ms; it waits ~700 ms behind the busy one, which is within its own.
  const host = await started(300);
  try {
    await mustLoad(host, 'busy', busy(700, 'slow done'));
    await mustLoad(host, 'quick', say('quick done'));
    const pid = host.pid;
    const [slow, quick] = await Promise.all([
      host.runChain('onMailFrom', {}, [{ agentId: 'busy', budgetMs: 2000 }]),
      host.runChain('onMailFrom', {}, [{ agentId: 'quick', budgetMs: 100 }]),
    ]);
    assert.equal(textOf(slow), 'slow done');
    assert.equal(textOf(quick), 'quick done');
    assert.equal(host.pid, pid, 'the host was not killed');
  } finally {
    await host.close();
  }
});

test('a host wedged inside an agent is killed at that chain’s deadline, the agent is blamed with a timeout, and the requests behind it are re-sent', async () => {
  const host = await started(200);
  try {
    await mustLoad(host, 'first', agentCode("return { verdict: 'continue' };"));
    await mustLoad(host, 'stuck', busy(400, 'never seen'));
    await mustLoad(host, 'echo', ECHO);
    const pid = host.pid as number;
    const wedged = host.runChain('onMailFrom', {}, [{ agentId: 'first', budgetMs: 200 }, { agentId: 'stuck', budgetMs: 300 }]);
    const behind = [1, 2, 3].map((n) => host.runChain('onMailFrom', { from: `q${n}` }, [{ agentId: 'echo', budgetMs: 500 }]));
    // `stuck` runs from ~0 to ~400 ms; frozen there, the host never answers.
    await new Promise((resolve) => setTimeout(resolve, 150));
    process.kill(pid, 'SIGSTOP');
    const result = await wedged;
    assert.deepEqual(result.steps.map((s) => [s.agentId, s.outcome]), [['first', 'ok'], ['stuck', 'timeout']]);
    assert.equal(result.decidedBy, 'stuck');
    assert.equal(result.verdict.verdict, 'tempfail');
    assert.match(result.steps[1]?.error ?? '', /deadline/);
    assert.deepEqual((await Promise.all(behind)).map(textOf), ['no q1', 'no q2', 'no q3'], 'served by the restarted host');
    assert.notEqual(host.pid, pid);
  } finally {
    await host.close();
  }
});

test('runs, loads and unloads reach the host in the order they were made', async () => {
  const host = await started();
  try {
    await mustLoad(host, 'x', say('one'));
    const chain = [{ agentId: 'x', budgetMs: 500 }];
    const first = host.runChain('onMailFrom', {}, chain);
    const unloaded = host.unload('x');
    const second = host.runChain('onMailFrom', {}, chain);
    const reloaded = host.load({ agentId: 'x', code: say('two'), memoryMiB: 32 });
    const third = host.runChain('onMailFrom', {}, chain);
    assert.equal(textOf(await first), 'one');
    await unloaded;
    const missing = await second;
    assert.equal(missing.steps[0]?.outcome, 'error');
    assert.match(missing.steps[0]?.error ?? '', /not loaded/);
    assert.deepEqual(await reloaded, { ok: true });
    assert.equal(textOf(await third), 'two');
  } finally {
    await host.close();
  }
});

test('a load queued behind a crash is re-sent to the restarted host, and the runs behind it see the agent', async () => {
  const host = await started();
  try {
    await mustLoad(host, 'bomb', agentCode("const o = {}; for (let i = 0; i < 1e6; i++) o['k' + i] = i; return o;"), 8);
    const crashed = host.runChain('onMailFrom', {}, [{ agentId: 'bomb', budgetMs: 3000 }]);
    const loaded = host.load({ agentId: 'late', code: ECHO, memoryMiB: 32 });
    const served = host.runChain('onMailFrom', { from: 'z' }, [{ agentId: 'late', budgetMs: 500 }]);
    const result = await crashed;
    assert.equal(result.decidedBy, 'bomb');
    assert.ok(['crash', 'error', 'timeout'].includes(result.steps[0]?.outcome ?? ''));
    assert.deepEqual(await loaded, { ok: true });
    assert.equal(textOf(await served), 'no z');
  } finally {
    await host.close();
  }
});

test('a run made before an unload still finds its agent when both are re-sent after a crash', async () => {
  const host = await started();
  try {
    await mustLoad(host, 'bomb', agentCode("const o = {}; for (let i = 0; i < 1e6; i++) o['k' + i] = i; return o;"), 8);
    await mustLoad(host, 'old', ECHO);
    const crashed = host.runChain('onMailFrom', {}, [{ agentId: 'bomb', budgetMs: 3000 }]);
    const before = host.runChain('onMailFrom', { from: 'before' }, [{ agentId: 'old', budgetMs: 500 }]);
    const unloaded = host.unload('old');
    const after = host.runChain('onMailFrom', { from: 'after' }, [{ agentId: 'old', budgetMs: 500 }]);
    assert.equal((await crashed).decidedBy, 'bomb');
    assert.equal(textOf(await before), 'no before');
    await unloaded;
    assert.match((await after).steps[0]?.error ?? '', /not loaded/);
  } finally {
    await host.close();
  }
});

test('a payload that is not JSON-serializable rejects that call only; the host keeps serving', async () => {
  const host = await started();
  try {
    await mustLoad(host, 'echo', ECHO);
    await assert.rejects(host.runChain('onMailFrom', { from: 1n }, [{ agentId: 'echo', budgetMs: 500 }]), TypeError);
    assert.equal(textOf(await host.runChain('onMailFrom', { from: 'ok' }, [{ agentId: 'echo', budgetMs: 500 }])), 'no ok');
  } finally {
    await host.close();
  }
});

test('a run the host refuses (a malformed event name) fails closed without steps, and the host keeps serving', async () => {
  const host = await started();
  try {
    await mustLoad(host, 'echo', ECHO);
    const refused = await host.runChain('on mail from', {}, [{ agentId: 'echo', budgetMs: 500 }]);
    assert.deepEqual(refused, { verdict: { verdict: 'tempfail', code: 451, enhanced: '4.3.0', text: 'Requested action aborted: local error in processing' }, decidedBy: null, steps: [] });
    assert.equal(textOf(await host.runChain('onMailFrom', { from: 'ok' }, [{ agentId: 'echo', budgetMs: 500 }])), 'no ok');
  } finally {
    await host.close();
  }
});

test('a load too large for one frame is a load error, not a rejection', async () => {
  const host = await started();
  try {
    const code = `globalThis.agent = {}; // ${'✉'.repeat(11_200_000)}`;
    const loaded = await host.load({ agentId: 'huge', code, memoryMiB: 32 });
    assert.equal(loaded.ok, false);
    assert.match(loaded.ok ? '' : loaded.error, /exceeds/);
    assert.equal(await host.ping(), true);
  } finally {
    await host.close();
  }
});

test('close lets the host answer what it was sent, then deletes the black box', async () => {
  const host = await started();
  let closed = false;
  try {
    await mustLoad(host, 'busy', busy(200, 'finished'));
    // One of the host's arguments is the black box file the server created for it.
    const blackBox = readFileSync(`/proc/${host.pid as number}/cmdline`, 'utf8').split('\0').find((arg) => arg.endsWith('/black-box')) ?? '';
    assert.ok(existsSync(blackBox), `${blackBox} exists while the host runs`);
    const running = host.runChain('onMailFrom', {}, [{ agentId: 'busy', budgetMs: 1000 }]);
    await new Promise((resolve) => setImmediate(resolve));
    await host.close();
    closed = true;
    assert.equal(textOf(await running), 'finished');
    assert.equal(existsSync(blackBox), false);
  } finally {
    if (!closed) await host.close();
  }
});

test('answers come right whether the server polls the pipe for them or waits in its event loop, across slow chains that stop the polling', async () => {
  // Polling (the default, on Node) reads the pipe directly; a slow chain ends a poll with no answer and
  // pauses polling; spinWindowUs 0 never polls. Both must give the same answers in the same order.
  for (const spinWindowUs of [undefined, 0]) {
    const host = new SandboxHost({ onLog: () => {}, spinWindowUs });
    await host.start();
    try {
      await mustLoad(host, 'echo', ECHO);
      await mustLoad(host, 'busy', busy(20, 'slow done'));
      const expected: string[] = [];
      const results: Promise<{ verdict: { verdict: string; text?: string } }>[] = [];
      for (let round = 0; round < 30; round++) {
        const from = `s${round}@example.org`;
        if (round % 10 === 9) {
          results.push(host.runChain('onMailFrom', { from }, [{ agentId: 'busy', budgetMs: 500 }]));
          expected.push('slow done');
        } else {
          // One at a time: each is written alone, so each write can be followed by a poll.
          results.push(host.runChain('onMailFrom', { from }, [{ agentId: 'echo', budgetMs: 500 }]));
          expected.push(`no ${from}`);
        }
        await results.at(-1);
      }
      assert.deepEqual((await Promise.all(results)).map(textOf), expected, `spinWindowUs ${String(spinWindowUs)}`);
    } finally {
      await host.close();
    }
  }
});

test('maxFrameBytes reaches both ends: a payload over the default limit crosses to the agent, and one over the given limit is refused before it is sent', async () => {
  const length = MAX_FRAME_BYTES + 1024 * 1024;
  const host = new SandboxHost({ onLog: () => {}, maxFrameBytes: length + 1024 * 1024 });
  await host.start();
  try {
    await mustLoad(host, 'measure', agentCode("return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: String(event.body.length) };"), 256);
    const body = 'b'.repeat(length);
    const result = await host.runChain('onMailFrom', { body }, [{ agentId: 'measure', budgetMs: 5000, body: true }]);
    assert.equal(textOf(result), String(length), 'the host decoded a line longer than the default limit');
    await assert.rejects(host.runChain('onMailFrom', { body: `${body}${'b'.repeat(2 * 1024 * 1024)}` }, [{ agentId: 'measure', budgetMs: 5000, body: true }]), FrameError);
    assert.equal(textOf(await host.runChain('onMailFrom', { body: 'short' }, [{ agentId: 'measure', budgetMs: 500, body: true }])), '5', 'the host is still there');
  } finally {
    await host.close();
  }
});

test('stats count host restarts and the server\'s polls for answers', async () => {
  // A 200 ms poll window, so that every poll is answered however busy the test machine is.
  const host = new SandboxHost({ onLog: () => {}, spinWindowUs: 200_000 });
  await host.start();
  try {
    await mustLoad(host, 'echo', ECHO);
    await mustLoad(host, 'abort', agentCode('new Array(1e8).fill(0); return undefined;'), 8);
    for (let i = 0; i < 60; i++) await host.runChain('onMailFrom', { from: `s${i}@example.org` }, [{ agentId: 'echo', budgetMs: 500 }]);
    const before = host.stats();
    assert.equal(before.hostRestarts, 0);
    if (host.polling) assert.deepEqual(before.polls, { answered: 60, empty: 0, skipped: 0 });
    else assert.deepEqual(before.polls, { answered: 0, empty: 0, skipped: 0 }, 'no fd to poll');
    const crashed = await host.runChain('onMailFrom', {}, [{ agentId: 'abort', budgetMs: 2000 }]);
    // V8 either aborts the host (a restart) or contains the allocation (a failed step).
    if (crashed.steps.at(-1)?.outcome === 'crash') {
      assert.equal(textOf(await host.runChain('onMailFrom', { from: 'after@example.org' }, [{ agentId: 'echo', budgetMs: 500 }])), 'no after@example.org');
      assert.equal(host.stats().hostRestarts, 1);
    } else assert.equal(host.stats().hostRestarts, 0);
  } finally {
    await host.close();
  }
});
