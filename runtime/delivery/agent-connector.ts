/**
 * The connector for `type: 'agent'`: hands a batch to a delivery agent in the sandbox
 * (`onOpenConnection`, `onDeliverMailItem` per item, `onCloseConnection`, as Exchange's
 * DeliveryAgent) and turns its per-recipient acks into outcomes. Never rejects: an agent that is not
 * running, fails or says nothing about a recipient leaves that recipient deferred.
 */
import { Buffer } from 'node:buffer';
import type { DeliveryEvents, EnvelopeInfo } from '../../sdk/event-payloads.ts';
import type { RecipientAck } from '../../sdk/verdict-schema.ts';
import { runRecorded, type ChainSource } from '../agents/run-recorded.ts';
import type { ChainMember } from '../agents/registry.ts';
import type { LogFn } from '../log/logger.ts';
import { parseHeaders } from '../message/headers.ts';
import { isFrameError } from '../sandbox/frame-codec.ts';
import type { ChainResult, SandboxDriver } from '../sandbox/protocol.ts';
import { AGENT_FAILURE_VERDICT } from '../sandbox/sandbox-verdict.ts';
import type { Envelope } from '../spool/envelope.ts';
import type { Connector, ConnectorItem, NextHop, RecipientOutcome } from './connector.ts';

export interface AgentConnectorOptions {
  /** The connector's name from the configuration; agents see it as `connector`. */
  name: string;
  /** The delivery agent (`vendor/name`) that takes this connector's mail. */
  agent: string;
  chains: ChainSource;
  driver: SandboxDriver;
  log: LogFn;
  now?: () => number;
}

type DeliveryEvent = keyof DeliveryEvents;

const TOO_LARGE = 'too-large';
const FAILURE_REPLY = `${AGENT_FAILURE_VERDICT.code} ${AGENT_FAILURE_VERDICT.enhanced} ${AGENT_FAILURE_VERDICT.text}`;

/**
 * The envelope as a delivery agent sees it. `recipients` are the ones this item carries, not every
 * recipient of the message: the others go elsewhere (or were delivered already), and a foreign
 * system has no business learning them (they may be Bcc).
 */
function envelopeInfo(envelope: Envelope, recipients: string[]): EnvelopeInfo {
  const mailParams: EnvelopeInfo['mailParams'] = { body: envelope.bodyType, smtputf8: envelope.smtputf8 };
  if (envelope.ret !== undefined) mailParams.ret = envelope.ret;
  if (envelope.envid !== undefined) mailParams.envid = envelope.envid;
  return { sender: envelope.sender, recipients, mailParams };
}

/** `withBody`: some link asked for the body (manifest `wantsBody`); only such links receive it (payload-lines.ts). */
function deliverPayload(connector: string, item: ConnectorItem, withBody: boolean): DeliveryEvents['onDeliverMailItem'] {
  const addresses = item.recipients.map((r) => r.address);
  const payload: DeliveryEvents['onDeliverMailItem'] = {
    connector,
    item: {
      id: item.envelope.id,
      envelope: envelopeInfo(item.envelope, addresses),
      recipients: addresses.map((address) => ({ address })),
      headers: parseHeaders(item.message),
      size: item.message.byteLength,
    },
  };
  if (withBody) payload.body = Buffer.from(item.message.buffer, item.message.byteOffset, item.message.byteLength).toString('base64');
  return payload;
}

/** Every recipient of every item deferred with `reply`. */
function allDeferred(items: readonly ConnectorItem[], reply: string, hopDown: boolean): RecipientOutcome[][] {
  return items.map((item) =>
    item.recipients.map((r): RecipientOutcome => (hopDown ? { index: r.index, outcome: 'deferred', reply, hopDown: true } : { index: r.index, outcome: 'deferred', reply })),
  );
}

/** The ack for `address`: an exact match first, then one that differs only in case (an agent that lower-cased the domain). */
function ackLookup(acks: readonly RecipientAck[]): (address: string) => RecipientAck | undefined {
  const exact = new Map<string, RecipientAck>();
  const folded = new Map<string, RecipientAck>();
  // The first answer for an address counts; a later contradicting one is ignored.
  for (const ack of acks) {
    if (!exact.has(ack.address)) exact.set(ack.address, ack);
    const key = ack.address.toLowerCase();
    if (!folded.has(key)) folded.set(key, ack);
  }
  return (address) => exact.get(address) ?? folded.get(address.toLowerCase());
}

export class AgentConnector implements Connector {
  readonly name: string;
  readonly #agent: string;
  readonly #chains: ChainSource;
  readonly #driver: SandboxDriver;
  readonly #log: LogFn;
  readonly #now: () => number;

  constructor(options: AgentConnectorOptions) {
    this.name = options.name;
    this.#agent = options.agent;
    this.#chains = options.chains;
    this.#driver = options.driver;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
  }

  async deliver(hop: NextHop, items: readonly ConnectorItem[]): Promise<RecipientOutcome[][]> {
    try {
      return await this.#deliver(hop, items);
    } catch (error) {
      // #deliver should not throw; if it does, the recipients' fate is unknown: retry them.
      this.#log('error', 'delivery.agent.bug', { connector: this.name, agent: this.#agent, error: String((error as Error)?.stack ?? error) });
      return allDeferred(items, FAILURE_REPLY, false);
    }
  }

  async #deliver(hop: NextHop, items: readonly ConnectorItem[]): Promise<RecipientOutcome[][]> {
    const started = this.#now();
    // Taken once per call: an admin change (disable, upgrade, breaker) applies from the next batch.
    const open = this.#members('onOpenConnection');
    const deliver = this.#members('onDeliverMailItem');
    const close = this.#members('onCloseConnection');
    if (deliver.length === 0) {
      this.#log('warn', 'delivery.agent.unavailable', { connector: this.name, agent: this.#agent, nextHop: hop.destination });
      return allDeferred(items, `451 4.4.0 delivery agent ${this.#agent} is not available`, true);
    }
    const connection: DeliveryEvents['onOpenConnection'] = { connector: this.name, nextHop: hop.destination };
    if (open.length > 0) {
      const opened = await this.#run('onOpenConnection', open, connection);
      if (opened !== TOO_LARGE && opened.verdict.verdict === 'tempfail') {
        const { code, enhanced, text } = opened.verdict;
        return allDeferred(items, `${code} ${enhanced} ${text}`, true);
      }
    }
    const withBody = deliver.some((m) => m.link.body === true);
    const outcomes: RecipientOutcome[][] = [];
    for (const item of items) {
      if (item.recipients.length === 0) {
        outcomes.push([]);
        continue;
      }
      const result = await this.#run('onDeliverMailItem', deliver, deliverPayload(this.name, item, withBody));
      if (result === TOO_LARGE) {
        // The message (base64, for an agent that wants the body) cannot cross to the sandbox host at all: waiting will not change that.
        const reply = `552 5.3.4 message too large to hand to delivery agent ${this.#agent} (over the sandbox's frame limit as JSON)`;
        outcomes.push(item.recipients.map((r) => ({ index: r.index, outcome: 'failed', reply })));
      } else {
        outcomes.push(this.#outcomes(item, result));
      }
    }
    // The acks stand whatever closing says; a failure here is recorded against the agent like any other.
    if (close.length > 0) await this.#run('onCloseConnection', close, connection);
    this.#log('debug', 'delivery.agent.batch', { connector: this.name, agent: this.#agent, nextHop: hop.destination, items: items.length, ms: this.#now() - started });
    return outcomes;
  }

  #members(event: DeliveryEvent): ChainMember[] {
    return this.#chains.runnable(event).filter((m) => m.name === this.#agent);
  }

  /**
   * One sandbox round trip, recorded for metrics and breakers. A payload over the host's frame cap
   * is TOO_LARGE (the agent never ran); a driver that rejects otherwise (it must not) counts as the agent failing.
   */
  async #run(event: DeliveryEvent, members: ChainMember[], payload: unknown): Promise<ChainResult | typeof TOO_LARGE> {
    try {
      return await runRecorded(this.#chains, this.#driver, this.#log, event, payload, members, isFrameError);
    } catch {
      return TOO_LARGE;
    }
  }

  #outcomes(item: ConnectorItem, result: ChainResult): RecipientOutcome[] {
    const verdict = result.verdict;
    if (verdict.verdict === 'tempfail') {
      const reply = `${verdict.code} ${verdict.enhanced} ${verdict.text}`;
      return item.recipients.map((r) => ({ index: r.index, outcome: 'deferred', reply }));
    }
    const lookup = ackLookup(verdict.verdict === 'ack' ? verdict.recipients : []);
    if (verdict.verdict !== 'ack' && verdict.verdict !== 'continue') {
      // The host only lets acks out of onDeliverMailItem; anything else is a bug, and retrying is safe.
      this.#log('error', 'agent.dispatch.bug', { event: 'onDeliverMailItem', agent: this.#agent, error: `a delivery chain ended with ${verdict.verdict}` });
    }
    return item.recipients.map((r): RecipientOutcome => {
      const ack = lookup(r.address);
      if (ack === undefined) return { index: r.index, outcome: 'deferred', reply: `451 4.3.0 ${this.#agent} did not answer for this recipient` };
      switch (ack.status) {
        case 'delivered':
          return { index: r.index, outcome: 'delivered', detail: `delivered by ${this.#agent}` };
        case 'deferred':
          return { index: r.index, outcome: 'deferred', reply: `451 4.4.0 ${ack.reason}` };
        case 'failed':
          return { index: r.index, outcome: 'failed', reply: `${ack.code} ${ack.enhanced} ${ack.reason}` };
      }
    });
  }
}
