// The receive policy layer over a real sandbox host: what it answers when the payload cannot reach the sandbox at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChainResult } from '../sandbox/protocol.ts';
import { SandboxHost } from '../sandbox/sandbox-host.ts';
import type { LogFn } from '../log/logger.ts';
import type { ChainMember } from './registry.ts';
import { ReceiveDispatcher } from './receive-dispatcher.ts';

const CODE = `globalThis.agent = { onEndOfData(e) { return { verdict: 'continue', headers: [{ op: 'add', name: 'X-Seen', value: String(e.body.length) }] }; } };`;

test('an end-of-data payload too large for the sandbox frame limit is refused for good (552 5.3.4), not tempfailed for ever; smaller ones still reach the agent', async () => {
  const host = new SandboxHost({ onLog: () => {}, maxFrameBytes: 64 * 1024 });
  await host.start();
  try {
    assert.deepEqual(await host.load({ agentId: 'acme/reader.1', code: CODE, memoryMiB: 32 }), { ok: true });
    const member: ChainMember = { name: 'acme/reader', version: '1.0.0', unsigned: false, link: { agentId: 'acme/reader.1', budgetMs: 500, body: true } };
    // The registry's part here is only to name the chain and hear the results.
    const recorded: ChainResult[] = [];
    const chains = { chain: () => [member], runnable: () => [member], record: (_event: string, _members: readonly ChainMember[], result: ChainResult) => void recorded.push(result) };
    const logs: { event: string; fields: Record<string, unknown> }[] = [];
    const log: LogFn = (_level, event, fields = {}) => void logs.push({ event, fields });
    const dispatcher = new ReceiveDispatcher(chains, host, log);
    const payload = (body: string) => ({ session: { id: 's' }, envelope: { sender: 'a@example.net', recipients: ['b@example.com'] }, size: body.length, body }) as never;

    const small = await dispatcher.decide('onEndOfData', payload('c21hbGw='));
    assert.deepEqual(small, { verdict: 'continue', headers: [{ op: 'add', name: 'X-Seen', value: '8' }] });

    const big = await dispatcher.decide('onEndOfData', payload('A'.repeat(100 * 1024)));
    assert.deepEqual(big, { verdict: 'reject', code: 552, enhanced: '5.3.4', text: 'Message too large for the content checks of this server' });
    const warned = logs.find((l) => l.event === 'agent.payload.too-large');
    assert.ok(warned, JSON.stringify(logs));
    assert.deepEqual(warned.fields.agents, ['acme/reader']);
    assert.match(String(warned.fields.error), /exceeds 65536/);
    assert.equal(logs.some((l) => l.event === 'agent.dispatch.bug'), false, 'not reported as a bug');
    assert.equal(recorded.length, 1, 'the refused payload never reached the agent, so nothing is recorded against it');
  } finally {
    await host.close();
  }
});
