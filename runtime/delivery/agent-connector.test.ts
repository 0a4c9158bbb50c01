// AgentConnector against real delivery agents: signed bundles in a real AgentRegistry (breakers,
// metrics, enable/disable) running in a real isolated-vm sandbox host process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentRegistry, type ChainMember } from '../agents/registry.ts';
import type { ChainSource } from '../agents/run-recorded.ts';
import { TrustStore } from '../agents/trust-store.ts';
import type { LogFields, LogLevel } from '../log/logger.ts';
import { SandboxHost } from '../sandbox/sandbox-host.ts';
import type { ChainResult } from '../sandbox/protocol.ts';
import type { Envelope } from '../spool/envelope.ts';
import { signedAgent, trustedVendor, type TestAgent } from '../testing/agent-kit.ts';
import { AgentConnector } from './agent-connector.ts';
import type { ConnectorItem, RecipientOutcome } from './connector.ts';

interface Fixture {
  registry: AgentRegistry;
  logs: { level: LogLevel; event: string; fields: LogFields }[];
  /** Installs a bundle signed by a trusted acme key, and enables it unless told not to. */
  install(agent: TestAgent, enable?: boolean): Promise<void>;
  connector(agent: string): AgentConnector;
}

/** A fresh data dir, trust store, sandbox host and registry (breaker opens after 2 failures in a row); always torn down. */
async function withRegistry(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-agent-connector-'));
  const logs: Fixture['logs'] = [];
  const log = (level: LogLevel, event: string, fields: LogFields = {}): void => void logs.push({ level, event, fields });
  const driver = new SandboxHost({ onLog: () => {} });
  try {
    await mkdir(join(dataDir, 'agents'), { recursive: true });
    const trust = await TrustStore.open(join(dataDir, 'agents', 'trusted-keys.json'));
    const registry = await AgentRegistry.open({
      dataDir,
      trust,
      driver,
      driverInfo: { name: 'isolated-vm host process', guarantees: [] },
      log,
      breaker: { threshold: 2, cooldownMs: 60_000 },
    });
    const key = await trustedVendor(trust, registry, ['acme']);
    await fn({
      registry,
      logs,
      async install(agent, enable = true) {
        await registry.install(signedAgent(agent, key));
        if (enable) await registry.enable(agent.name);
      },
      connector: (agent) => new AgentConnector({ name: 'hook', agent, chains: registry, driver, log }),
    });
  } finally {
    await driver.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function delivery(name: string, budgets: Record<string, number>, handlers: string, manifest: Record<string, unknown> = {}): TestAgent {
  return { name, budgets, handlers, manifest: { kind: 'delivery', ...manifest } };
}

let seq = 0;
function item(recipients: string[], options: { extra?: string[]; subject?: string; firstIndex?: number } = {}): ConnectorItem {
  const message = new Uint8Array(Buffer.from(`From: a@example.net\r\nSubject: ${options.subject ?? 'hello'}\r\n\r\nbody line\r\n`, 'latin1'));
  const envelope: Envelope = {
    id: `QUEUE${String(++seq).padStart(6, '0')}`,
    sender: 'a@example.net',
    recipients: [...recipients, ...(options.extra ?? [])].map((address) => ({ address })),
    receivedAt: 1_700_000_000_000,
    size: message.byteLength,
    bodyType: '8BITMIME',
    smtputf8: false,
    envid: 'ENV-1',
    client: { address: '192.0.2.1', port: 40000, helo: 'client.test', tls: false },
  };
  const first = options.firstIndex ?? 0;
  return {
    envelope,
    message,
    recipients: recipients.map((address, i) => {
      const at = address.lastIndexOf('@');
      return { index: first + i, address, localPart: address.slice(0, at), domain: address.slice(at + 1) };
    }),
  };
}

const HOP = { connector: 'hook', destination: 'hooks.test' };

/** Acks by local part: ok… delivered, later… deferred, bad… failed, skip… not answered; the reasons echo what the agent saw. */
const COURIER = delivery(
  'acme/courier',
  { onDeliverMailItem: 2000 },
  `onDeliverMailItem(e) {
    const subject = e.item.headers.find((h) => h.name.toLowerCase() === 'subject').value;
    const saw = [e.connector, e.item.id, subject, e.item.size, e.item.envelope.sender, e.item.envelope.recipients.join(','), e.item.envelope.mailParams.envid, 'body' in e ? 'body' : 'no-body'].join(' ');
    const recipients = [];
    for (const r of e.item.recipients) {
      if (r.address.startsWith('ok')) recipients.push({ address: r.address, status: 'delivered' });
      else if (r.address.startsWith('later')) recipients.push({ address: r.address, status: 'deferred', reason: 'busy; saw ' + saw });
      else if (r.address.startsWith('bad')) recipients.push({ address: r.address, status: 'failed', code: 550, enhanced: '5.1.1', reason: 'no such user' });
      else if (r.address.startsWith('upper')) recipients.push({ address: r.address.toUpperCase(), status: 'delivered' });
    }
    recipients.push({ address: 'stranger@hooks.test', status: 'delivered' });
    return { recipients };
  }`,
);

test('acks map to outcomes per recipient: delivered, deferred, failed, case-folded, and deferred when the agent says nothing', async () => {
  await withRegistry(async ({ registry, install, connector }) => {
    await install(COURIER);
    const first = item(['ok@hooks.test', 'later@hooks.test', 'bad@hooks.test', 'skip@hooks.test'], { extra: ['bcc@elsewhere.test'], subject: 'first' });
    const second = item(['upper@hooks.test'], { firstIndex: 7 });
    const outcomes = await connector('acme/courier').deliver(HOP, [first, second]);
    const size = first.message.byteLength;
    assert.deepEqual(outcomes, [
      [
        { index: 0, outcome: 'delivered', detail: 'delivered by acme/courier' },
        {
          index: 1,
          outcome: 'deferred',
          reply: `451 4.4.0 busy; saw hook ${first.envelope.id} first ${size} a@example.net ok@hooks.test,later@hooks.test,bad@hooks.test,skip@hooks.test ENV-1 no-body`,
        },
        { index: 2, outcome: 'failed', reply: '550 5.1.1 no such user' },
        { index: 3, outcome: 'deferred', reply: '451 4.3.0 acme/courier did not answer for this recipient' },
      ],
      [{ index: 7, outcome: 'delivered', detail: 'delivered by acme/courier' }],
    ] satisfies RecipientOutcome[][]);
    const stats = registry.stats('acme/courier').events.onDeliverMailItem;
    assert.equal(stats?.calls, 2, 'one sandbox run per item');
    assert.equal(stats?.verdicts.ack, 2);
  });
});

/** Opens per next hop (refusing down.test), remembers what it opened, and reports it in its acks. */
const GATEWAY = delivery(
  'acme/gateway',
  { onOpenConnection: 500, onDeliverMailItem: 500, onCloseConnection: 500 },
  `onOpenConnection(e) {
    if (e.nextHop === 'down.test') return { verdict: 'tempfail', code: 421, enhanced: '4.4.2', text: 'gateway for down.test is offline' };
    globalThis.opened = e.connector + '->' + e.nextHop;
  },
  onDeliverMailItem(e) {
    return { recipients: e.item.recipients.map((r) => ({ address: r.address, status: 'deferred', reason: 'inside ' + globalThis.opened })) };
  },
  onCloseConnection() { globalThis.opened = 'closed'; }`,
);

test('onOpenConnection and onCloseConnection frame the batch; a tempfail at open defers every recipient with its reply and marks the hop down', async () => {
  await withRegistry(async ({ registry, install, connector }) => {
    await install(GATEWAY);
    const hook = connector('acme/gateway');
    const up = await hook.deliver(HOP, [item(['x@hooks.test']), item(['y@hooks.test'])]);
    assert.deepEqual(up, [
      [{ index: 0, outcome: 'deferred', reply: '451 4.4.0 inside hook->hooks.test' }],
      [{ index: 0, outcome: 'deferred', reply: '451 4.4.0 inside hook->hooks.test' }],
    ]);
    const down = await hook.deliver({ connector: 'hook', destination: 'down.test' }, [item(['a@down.test', 'b@down.test']), item(['c@down.test'], { firstIndex: 5 })]);
    const reply = '421 4.4.2 gateway for down.test is offline';
    assert.deepEqual(down, [
      [
        { index: 0, outcome: 'deferred', reply, hopDown: true },
        { index: 1, outcome: 'deferred', reply, hopDown: true },
      ],
      [{ index: 5, outcome: 'deferred', reply, hopDown: true }],
    ]);
    const events = registry.stats('acme/gateway').events;
    assert.equal(events.onOpenConnection?.calls, 2);
    assert.equal(events.onOpenConnection?.verdicts.tempfail, 1);
    assert.equal(events.onDeliverMailItem?.calls, 2, 'nothing is delivered over a connection that did not open');
    assert.equal(events.onCloseConnection?.calls, 1, 'a connection that did not open is not closed');
    // The close of the first batch ran: the next open starts from scratch.
    const again = await hook.deliver(HOP, [item(['z@hooks.test'])]);
    assert.equal(again[0]?.[0]?.outcome === 'deferred' && again[0][0].reply, '451 4.4.0 inside hook->hooks.test');
  });
});

test('a looping agent defers its item with 451 4.3.0 and is recorded; once its breaker opens the agent is unavailable and the hop is down', async () => {
  await withRegistry(async ({ registry, install, connector, logs }) => {
    await install(delivery('acme/looper', { onDeliverMailItem: 100 }, `onDeliverMailItem(e) { for (;;) {} }`));
    const hook = connector('acme/looper');
    const failure = '451 4.3.0 Requested action aborted: local error in processing';
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      const outcomes = await hook.deliver(HOP, [item(['a@hooks.test', 'b@hooks.test'])]);
      assert.deepEqual(outcomes, [
        [
          { index: 0, outcome: 'deferred', reply: failure },
          { index: 1, outcome: 'deferred', reply: failure },
        ],
      ]);
      assert.ok(Date.now() - started < 10_000, 'the budget ends the loop');
    }
    assert.equal(registry.stats('acme/looper').events.onDeliverMailItem?.timeouts, 2);
    assert.equal(registry.get('acme/looper')?.breaker.state, 'open');
    assert.ok(logs.some((l) => l.event === 'agent.breaker.open' && l.fields.agent === 'acme/looper'));
    const suspended = await hook.deliver(HOP, [item(['a@hooks.test'])]);
    assert.deepEqual(suspended, [[{ index: 0, outcome: 'deferred', reply: '451 4.4.0 delivery agent acme/looper is not available', hopDown: true }]]);
    assert.equal(registry.stats('acme/looper').events.onDeliverMailItem?.calls, 2, 'a suspended agent is not called');
  });
});

test('an agent that is not installed, not enabled or disabled is not available: every recipient deferred, hop down', async () => {
  await withRegistry(async ({ registry, install, connector, logs }) => {
    const unavailable = (name: string): RecipientOutcome[][] => [
      [
        { index: 0, outcome: 'deferred', reply: `451 4.4.0 delivery agent ${name} is not available`, hopDown: true },
        { index: 1, outcome: 'deferred', reply: `451 4.4.0 delivery agent ${name} is not available`, hopDown: true },
      ],
    ];
    const courier = connector('acme/courier');
    assert.deepEqual(await courier.deliver(HOP, [item(['ok1@hooks.test', 'ok2@hooks.test'])]), unavailable('acme/courier'));
    await install(COURIER, false);
    assert.deepEqual(await courier.deliver(HOP, [item(['ok1@hooks.test', 'ok2@hooks.test'])]), unavailable('acme/courier'));
    await registry.enable('acme/courier');
    const delivered = await courier.deliver(HOP, [item(['ok1@hooks.test', 'ok2@hooks.test'])]);
    assert.deepEqual(delivered[0]?.map((o) => o.outcome), ['delivered', 'delivered']);
    await registry.disable('acme/courier');
    assert.deepEqual(await courier.deliver(HOP, [item(['ok1@hooks.test', 'ok2@hooks.test'])]), unavailable('acme/courier'));
    // Another delivery agent being enabled does not stand in for the configured one.
    await install(GATEWAY);
    assert.deepEqual(await courier.deliver(HOP, [item(['ok1@hooks.test', 'ok2@hooks.test'])]), unavailable('acme/courier'));
    assert.ok(logs.some((l) => l.event === 'delivery.agent.unavailable' && l.fields.agent === 'acme/courier'));
  });
});

test('an agent that returns a bad result or nothing defers every recipient of the item; acks for one item never leak into another', async () => {
  await withRegistry(async ({ registry, install, connector }) => {
    await install(
      delivery(
        'acme/sloppy',
        { onDeliverMailItem: 500 },
        `onDeliverMailItem(e) {
          const first = e.item.recipients[0].address;
          if (first.startsWith('bad')) return { recipients: [{ address: first, status: 'maybe' }] };
          if (first.startsWith('none')) return undefined;
          return { recipients: [{ address: first, status: 'delivered' }] };
        }`,
      ),
    );
    const outcomes = await connector('acme/sloppy').deliver(HOP, [item(['bad@hooks.test']), item(['none@hooks.test']), item(['ok@hooks.test', 'bad@hooks.test'])]);
    assert.deepEqual(outcomes, [
      [{ index: 0, outcome: 'deferred', reply: '451 4.3.0 Requested action aborted: local error in processing' }],
      [{ index: 0, outcome: 'deferred', reply: '451 4.3.0 Requested action aborted: local error in processing' }],
      [
        { index: 0, outcome: 'delivered', detail: 'delivered by acme/sloppy' },
        { index: 1, outcome: 'deferred', reply: '451 4.3.0 acme/sloppy did not answer for this recipient' },
      ],
    ]);
    const stats = registry.stats('acme/sloppy').events.onDeliverMailItem;
    assert.equal(stats?.badResults, 2, 'a bad result and an empty answer both count against the agent');
  });
});

interface BodyFixture {
  connector(agent: 'acme/reader' | 'acme/blind'): AgentConnector;
  recorded: { event: string; agents: string[]; result: ChainResult }[];
}

/**
 * Two copies of one agent loaded straight into a real sandbox host, behind a small ChainSource:
 * acme/reader's link asks for the body, acme/blind's does not. Each answers with what it saw as `body`.
 */
async function withReaderAndBlind(fn: (f: BodyFixture) => Promise<void>): Promise<void> {
  const driver = new SandboxHost({ onLog: () => {} });
  try {
    await driver.start();
    const code = `globalThis.agent = { onDeliverMailItem(e) {
      return { recipients: e.item.recipients.map((r) => ({ address: r.address, status: 'deferred', reason: 'body=' + (e.body === undefined ? 'none' : e.body) })) };
    } };`;
    for (const agentId of ['acme/reader.1', 'acme/blind.1']) assert.deepEqual(await driver.load({ agentId, code, memoryMiB: 32 }), { ok: true });
    const members: ChainMember[] = [
      { name: 'acme/reader', version: '1.0.0', unsigned: false, link: { agentId: 'acme/reader.1', budgetMs: 1000, body: true } },
      { name: 'acme/blind', version: '1.0.0', unsigned: false, link: { agentId: 'acme/blind.1', budgetMs: 1000 } },
    ];
    const recorded: BodyFixture['recorded'] = [];
    const chains: ChainSource = {
      chain: (event) => (event === 'onDeliverMailItem' ? members : []),
      runnable: (event) => (event === 'onDeliverMailItem' ? [...members] : []),
      record: (event, ran, result) => void recorded.push({ event, agents: ran.map((m) => m.name), result }),
    };
    await fn({ connector: (agent) => new AgentConnector({ name: 'hook', agent, chains, driver, log: () => {} }), recorded });
  } finally {
    await driver.close();
  }
}

test('the body reaches, as base64 of the whole message, only a link that asked for it (a ChainSource of real loaded agents)', async () => {
  await withReaderAndBlind(async ({ connector, recorded }) => {
    const one = item(['a@hooks.test']);
    const [[read]] = (await connector('acme/reader').deliver(HOP, [one])) as [[RecipientOutcome]];
    assert.deepEqual(read, { index: 0, outcome: 'deferred', reply: `451 4.4.0 body=${Buffer.from(one.message).toString('base64')}` });
    const [[blind]] = (await connector('acme/blind').deliver(HOP, [one])) as [[RecipientOutcome]];
    assert.deepEqual(blind, { index: 0, outcome: 'deferred', reply: '451 4.4.0 body=none' });
    assert.deepEqual(
      recorded.map((r) => [r.event, r.agents, r.result.steps.map((s) => s.outcome)]),
      [
        ['onDeliverMailItem', ['acme/reader'], ['ok']],
        ['onDeliverMailItem', ['acme/blind'], ['ok']],
      ],
      'every run is recorded, with only the configured agent in its chain',
    );
  });
});

test('a message too large to hand to the sandbox fails 552 5.3.4 for an agent that wants the body; one that does not still gets the item', async () => {
  await withReaderAndBlind(async ({ connector, recorded }) => {
    const big = item(['a@hooks.test', 'b@hooks.test']);
    // 25 MiB is 33.3 MiB as base64: over the host's 32 MiB frame cap.
    const message = new Uint8Array(25 * 1024 * 1024).fill(0x78);
    message.set(Buffer.from('Subject: big\r\n\r\n', 'latin1'));
    const huge: ConnectorItem = { ...big, message };
    const small = item(['c@hooks.test'], { firstIndex: 2 });
    const reply = /^552 5\.3\.4 message too large to hand to delivery agent acme\/reader \(over the sandbox.s frame limit as JSON\)$/;
    const read = await connector('acme/reader').deliver(HOP, [huge, small]);
    assert.equal(read[0]?.length, 2);
    for (const outcome of read[0] ?? []) assert.ok(outcome.outcome === 'failed' && reply.test(outcome.reply), JSON.stringify(outcome));
    assert.deepEqual(read[1], [{ index: 2, outcome: 'deferred', reply: `451 4.4.0 body=${Buffer.from(small.message).toString('base64')}` }], 'the next item of the batch goes on');
    const blind = await connector('acme/blind').deliver(HOP, [huge]);
    assert.deepEqual(blind, [
      [
        { index: 0, outcome: 'deferred', reply: '451 4.4.0 body=none' },
        { index: 1, outcome: 'deferred', reply: '451 4.4.0 body=none' },
      ],
    ]);
    assert.deepEqual(
      recorded.map((r) => r.agents),
      [['acme/reader'], ['acme/blind']],
      'the reader never ran for the message it could not be given',
    );
  });
});
