/** The conformance suite every sandbox driver passes: hostile agents contained, attributed, bounded, and the next call served. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChainLink, ChainResult, SandboxDriver } from './protocol.ts';
import { agentCode, HOSTILE_CASES } from './conformance-agents.ts';

/** Slack over a budget for a call to come back: a behavioural bound for slow CI machines, not a benchmark. */
const MARGIN_MS = 1500;
const DEFAULT_BUDGET_MS = 200;
const GOOD = agentCode("return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'no mail from ' + event.from };", true);
const CONTINUE = agentCode("return { verdict: 'continue' };");

async function timed(driver: SandboxDriver, chain: ChainLink[]): Promise<{ result: ChainResult; elapsed: number }> {
  const started = performance.now();
  const result = await driver.runChain('onMailFrom', { from: 'a@example.org' }, chain);
  return { result, elapsed: performance.now() - started };
}

async function mustLoad(driver: SandboxDriver, agentId: string, code: string, memoryMiB = 32): Promise<void> {
  const loaded = await driver.load({ agentId, code, memoryMiB });
  assert.deepEqual(loaded, { ok: true }, `loading ${agentId}`);
}

/** The next event, on an agent loaded after the hostile one, is served normally. */
async function assertServed(driver: SandboxDriver, agentId: string): Promise<void> {
  await mustLoad(driver, agentId, GOOD);
  const { result } = await timed(driver, [{ agentId, budgetMs: 1000 }]);
  assert.equal(result.decidedBy, agentId);
  assert.deepEqual(result.verdict, { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'no mail from a@example.org' });
  assert.equal(result.steps[0]?.outcome, 'ok');
  await driver.unload(agentId);
}

export function sandboxDriverConformance(name: string, makeDriver: () => SandboxDriver): void {
  describe(`sandbox driver conformance: ${name}`, () => {
    let driver: SandboxDriver;
    before(async () => {
      driver = makeDriver();
      await driver.start();
    });
    after(async () => {
      await driver.close();
    });

    HOSTILE_CASES.forEach((c, index) => {
      test(c.title, async () => {
        const agentId = `hostile-${index}`;
        const budgetMs = c.budgetMs ?? DEFAULT_BUDGET_MS;
        await mustLoad(driver, agentId, agentCode(c.body, c.async), c.memoryMiB ?? 32);
        const { result, elapsed } = await timed(driver, [{ agentId, budgetMs }]);
        const step = result.steps[0];
        assert.ok(step, 'a step is recorded for the agent');
        assert.equal(step.agentId, agentId);
        assert.ok(c.outcomes.includes(step.outcome), `outcome ${step.outcome} (${step.error ?? ''}) not in ${c.outcomes.join('|')}`);
        assert.ok(elapsed < budgetMs + MARGIN_MS, `returned after ${Math.round(elapsed)} ms, budget ${budgetMs} ms`);
        if (step.outcome === 'ok') {
          assert.ok(c.text, 'an ok outcome is only expected where the case says what the agent saw');
          assert.equal(result.verdict.verdict, 'reject');
          assert.match(result.verdict.verdict === 'reject' ? result.verdict.text : '', c.text);
        } else {
          assert.equal(typeof step.error, 'string', 'a failure carries a string message');
          if (c.error && step.outcome === c.outcomes[0]) assert.match(step.error ?? '', c.error);
          assert.equal(result.decidedBy, agentId, 'the failure is attributed to the agent');
          assert.equal(result.verdict.verdict, 'tempfail', 'a failing agent never lets the command through');
        }
        if (step.outcome === 'timeout') assert.ok(step.ms >= budgetMs * 0.9, `timed out after ${step.ms} ms, before its budget`);
        await driver.unload(agentId);
        await assertServed(driver, `fresh-${index}`);
      });
    });

    test('a handler that returns nothing lets the event continue', async () => {
      await mustLoad(driver, 'silent-sync', agentCode('return;'));
      await mustLoad(driver, 'silent-async', agentCode('await 0;', true));
      const { result } = await timed(driver, ['silent-sync', 'silent-async'].map((agentId) => ({ agentId, budgetMs: 500 })));
      assert.deepEqual(result.verdict, { verdict: 'continue' });
      assert.deepEqual(result.steps.map((s) => s.outcome), ['ok', 'ok']);
      await driver.unload('silent-sync');
      await driver.unload('silent-async');
    });

    test('a chain runs in order and the first terminal verdict decides, with every step timed', async () => {
      await mustLoad(driver, 'chain-1', CONTINUE);
      await mustLoad(driver, 'chain-2', GOOD);
      await mustLoad(driver, 'chain-3', agentCode('for (;;) {}'));
      const { result } = await timed(driver, ['chain-1', 'chain-2', 'chain-3'].map((agentId) => ({ agentId, budgetMs: 500 })));
      assert.equal(result.decidedBy, 'chain-2');
      assert.equal(result.verdict.verdict, 'reject');
      assert.deepEqual(result.steps.map((s) => [s.agentId, s.outcome]), [['chain-1', 'ok'], ['chain-2', 'ok']]);
      for (const s of result.steps) assert.ok(typeof s.ms === 'number' && s.ms >= 0 && s.ms < 500);
    });

    test('a chain of continues ends in continue, decided by nobody', async () => {
      const { result } = await timed(driver, [{ agentId: 'chain-1', budgetMs: 200 }, { agentId: 'chain-1', budgetMs: 200 }]);
      assert.deepEqual(result.verdict, { verdict: 'continue' });
      assert.equal(result.decidedBy, null);
      assert.equal(result.steps.length, 2);
    });

    test('a failing agent under the open policy is skipped and the chain goes on', async () => {
      const { result } = await timed(driver, [{ agentId: 'chain-3', budgetMs: 100, failure: 'open' }, { agentId: 'chain-2', budgetMs: 500 }]);
      assert.deepEqual(result.steps.map((s) => s.outcome), ['timeout', 'ok']);
      assert.equal(result.decidedBy, 'chain-2');
    });

    test('a crash mid-chain is attributed to the agent that was running, after the steps before it', async () => {
      await mustLoad(driver, 'bomb', agentCode('return { n: new Array(1e8).fill(0).length };'), 128);
      const { result, elapsed } = await timed(driver, [{ agentId: 'chain-1', budgetMs: 200 }, { agentId: 'bomb', budgetMs: 3000 }, { agentId: 'chain-2', budgetMs: 200 }]);
      assert.ok(elapsed < 3400 + MARGIN_MS);
      assert.equal(result.steps[0]?.outcome, 'ok');
      assert.equal(result.steps[1]?.agentId, 'bomb');
      assert.ok(['crash', 'error', 'timeout'].includes(result.steps[1]?.outcome ?? ''));
      assert.equal(result.decidedBy, 'bomb');
      assert.equal(result.steps.length, 2);
      await driver.unload('bomb');
      const again = await timed(driver, [{ agentId: 'chain-1', budgetMs: 200 }, { agentId: 'chain-2', budgetMs: 200 }]);
      assert.equal(again.result.decidedBy, 'chain-2', 'agents loaded before the crash are served after it');
    });

    test('agents do not share globals: prototype pollution stays in its own isolate', async () => {
      await mustLoad(driver, 'polluter', agentCode("Object.prototype.polluted = 'yes'; JSON.parse = () => ({ verdict: 'reject' }); return { verdict: 'continue' };"));
      await mustLoad(driver, 'victim', agentCode("return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: String(({}).polluted) + ' ' + event.from };"));
      const { result } = await timed(driver, [{ agentId: 'polluter', budgetMs: 200 }, { agentId: 'victim', budgetMs: 200 }]);
      assert.equal(result.verdict.verdict === 'reject' && result.verdict.text, 'undefined a@example.org');
      const second = await timed(driver, [{ agentId: 'polluter', budgetMs: 200 }]);
      assert.deepEqual(second.result.verdict, { verdict: 'continue' }, "the agent's own JSON.parse override does not reach the payload parser");
    });

    test('a missing handler continues', async () => {
      const result = await driver.runChain('onRcptTo', {}, [{ agentId: 'chain-2', budgetMs: 200 }]);
      assert.deepEqual(result.verdict, { verdict: 'continue' });
      assert.equal(result.steps[0]?.outcome, 'ok');
    });

    test('routing events take routing verdicts: recipient and header edits merge in order, delete ends the chain', async () => {
      const handlers = (body: string): string => `globalThis.agent = { onResolvedMessage(event) { ${body} } };`;
      await mustLoad(driver, 'route-1', handlers("return { verdict: 'continue', recipients: [{ op: 'add', address: 'archive@example.com' }], headers: [{ op: 'add', name: 'X-A', value: '1' }] };"));
      await mustLoad(driver, 'route-2', handlers("return { verdict: 'continue', recipients: [{ op: 'override', address: event.message.recipients[0].address, route: 'partner' }] };"));
      await mustLoad(driver, 'route-3', handlers("return { verdict: 'delete', reason: 'duplicate' };"));
      const payload = { message: { recipients: [{ address: 'a@example.com', status: 'pending' }] } };
      const two = await driver.runChain('onResolvedMessage', payload, ['route-1', 'route-2'].map((agentId) => ({ agentId, budgetMs: 500 })));
      assert.deepEqual(two.verdict, { verdict: 'continue' });
      assert.deepEqual(two.recipients, [{ op: 'add', address: 'archive@example.com' }, { op: 'override', address: 'a@example.com', route: 'partner' }]);
      assert.deepEqual(two.headers, [{ op: 'add', name: 'X-A', value: '1' }]);
      const three = await driver.runChain('onResolvedMessage', payload, ['route-1', 'route-3', 'route-2'].map((agentId) => ({ agentId, budgetMs: 500 })));
      assert.deepEqual(three.verdict, { verdict: 'delete', reason: 'duplicate' });
      assert.equal(three.decidedBy, 'route-3');
      assert.equal(three.recipients, undefined, 'a terminal verdict discards the edits before it');
    });

    test('a verdict of another kind is a bad result: a receive event cannot delete, a routing event cannot disconnect', async () => {
      await mustLoad(driver, 'wrong-kind', "globalThis.agent = { onMailFrom() { return { verdict: 'delete', reason: 'x' }; }, onRoutedMessage() { return { verdict: 'disconnect' }; } };");
      const receive = await driver.runChain('onMailFrom', {}, [{ agentId: 'wrong-kind', budgetMs: 500 }]);
      assert.equal(receive.steps[0]?.outcome, 'bad-result');
      assert.equal(receive.verdict.verdict, 'tempfail');
      const routing = await driver.runChain('onRoutedMessage', {}, [{ agentId: 'wrong-kind', budgetMs: 500 }]);
      assert.equal(routing.steps[0]?.outcome, 'bad-result');
    });

    test('a delivery agent acks each recipient of a mail item; a malformed ack is a bad result', async () => {
      await mustLoad(
        driver,
        'deliverer',
        "globalThis.agent = { onDeliverMailItem(event) { return { recipients: event.item.recipients.map((r, i) => i === 0 ? { address: r.address, status: 'delivered' } : { address: r.address, status: 'failed', code: 550, enhanced: '5.1.1', reason: 'unknown' }) }; } };",
      );
      const item = { connector: 'hook', item: { recipients: [{ address: 'a@example.com' }, { address: 'b@example.com' }] } };
      const acked = await driver.runChain('onDeliverMailItem', item, [{ agentId: 'deliverer', budgetMs: 500 }]);
      assert.deepEqual(acked.verdict, {
        verdict: 'ack',
        recipients: [
          { address: 'a@example.com', status: 'delivered' },
          { address: 'b@example.com', status: 'failed', code: 550, enhanced: '5.1.1', reason: 'unknown' },
        ],
      });
      await mustLoad(driver, 'bad-deliverer', "globalThis.agent = { onDeliverMailItem() { return { recipients: [{ address: 'a@example.com', status: 'maybe' }] }; } };");
      const bad = await driver.runChain('onDeliverMailItem', item, [{ agentId: 'bad-deliverer', budgetMs: 500 }]);
      assert.equal(bad.steps[0]?.outcome, 'bad-result');
      assert.equal(bad.verdict.verdict, 'tempfail');
    });

    test('load reports compile errors, top-level loops and a missing agent object', async () => {
      const syntax = await driver.load({ agentId: 'broken', code: 'globalThis.agent = {', memoryMiB: 32 });
      assert.equal(syntax.ok, false);
      const loop = await driver.load({ agentId: 'looping', code: 'for (;;) {}', memoryMiB: 32 });
      assert.equal(loop.ok, false);
      const none = await driver.load({ agentId: 'empty', code: 'const x = 1;', memoryMiB: 32 });
      assert.equal(none.ok, false);
      const result = await driver.runChain('onMailFrom', {}, [{ agentId: 'broken', budgetMs: 200 }]);
      assert.equal(result.steps[0]?.outcome, 'error');
      assert.equal(result.verdict.verdict, 'tempfail');
    });
  });
}
