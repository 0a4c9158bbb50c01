/**
 * Runs one routing event's chain for one message: one sandbox round trip, the body only when an
 * agent in the chain asked for it, the result recorded (metrics, breakers). Never throws: a driver
 * that fails is the closed failure policy's tempfail.
 */
import type { RoutingEvents } from '../../sdk/event-payloads.ts';
import type { ChainSource } from '../agents/receive-dispatcher.ts';
import type { LogFn } from '../log/logger.ts';
import type { ChainResult, SandboxDriver } from '../sandbox/protocol.ts';
import { AGENT_FAILURE_VERDICT } from '../sandbox/sandbox-verdict.ts';

export type RoutingEventName = keyof RoutingEvents;

export class RoutingChain {
  readonly #chains: ChainSource;
  readonly #driver: SandboxDriver;
  readonly #log: LogFn;

  constructor(chains: ChainSource, driver: SandboxDriver, log: LogFn) {
    this.#chains = chains;
    this.#driver = driver;
    this.#log = log;
  }

  /** Any routing agent subscribed at all: without one, categorization is a pure function of the config. */
  any(): boolean {
    return (['onSubmittedMessage', 'onResolvedMessage', 'onRoutedMessage', 'onCategorizedMessage'] as const).some((e) => this.#chains.chain(e).length > 0);
  }

  /** null when no agent runs for `event`. `body` is called only when an agent in the chain asked for it. */
  async run(event: RoutingEventName, message: RoutingEvents[RoutingEventName]['message'], body: () => string): Promise<ChainResult | null> {
    const members = this.#chains.runnable(event);
    if (members.length === 0) return null;
    const payload: RoutingEvents[RoutingEventName] = { message };
    if (members.some((m) => m.link.body === true)) payload.body = body();
    let result: ChainResult;
    try {
      result = await this.#driver.runChain(event, payload, members.map((m) => m.link));
    } catch (error) {
      this.#log('error', 'agent.dispatch.bug', { event, error: String((error as Error)?.stack ?? error) });
      return { verdict: AGENT_FAILURE_VERDICT, decidedBy: null, steps: [] };
    }
    this.#chains.record(event, members, result);
    return result;
  }
}
