/**
 * Runs one routing event's chain for one message: one sandbox round trip, the body only when an
 * agent in the chain asked for it, the result recorded (metrics, breakers). Never throws: a driver
 * that fails is the closed failure policy's tempfail.
 */
import type { RoutingEvents } from '../../sdk/event-payloads.ts';
import { runRecorded, type ChainSource } from '../agents/run-recorded.ts';
import type { LogFn } from '../log/logger.ts';
import type { ChainResult, SandboxDriver } from '../sandbox/protocol.ts';

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
    return runRecorded(this.#chains, this.#driver, this.#log, event, payload, members);
  }
}
