/**
 * The policy layer between the SMTP session and the receive agents: one sandbox round trip per
 * event runs the event's whole chain; the result is recorded (metrics, breakers) and turned into
 * the session's decision. Never throws: whatever goes wrong becomes the failure policy's answer.
 */
import type { ReceiveEvents } from '../../sdk/event-payloads.ts';
import type { LogFn } from '../log/logger.ts';
import { isFrameError } from '../sandbox/frame-codec.ts';
import type { ChainResult, SandboxDriver } from '../sandbox/protocol.ts';
import { AGENT_FAILURE_VERDICT, isReceiveVerdict } from '../sandbox/sandbox-verdict.ts';
import type { PolicyDecision, ReceiveEventName, ReceivePolicy } from '../smtp/session-types.ts';
import { runRecorded, type ChainSource } from './run-recorded.ts';

const CONTINUE: PolicyDecision = { verdict: 'continue' };
const TOO_LARGE: PolicyDecision = { verdict: 'reject', code: 552, enhanced: '5.3.4', text: 'Message too large for the content checks of this server' };

export class ReceiveDispatcher implements ReceivePolicy {
  readonly #chains: ChainSource;
  readonly #driver: SandboxDriver;
  readonly #log: LogFn;

  constructor(chains: ChainSource, driver: SandboxDriver, log: LogFn) {
    this.#chains = chains;
    this.#driver = driver;
    this.#log = log;
  }

  wants(event: ReceiveEventName): boolean {
    return this.#chains.chain(event).length > 0;
  }

  wantsBody(): boolean {
    return this.#chains.chain('onEndOfData').some((m) => m.link.body === true);
  }

  async decide<E extends ReceiveEventName>(event: E, payload: ReceiveEvents[E]): Promise<PolicyDecision> {
    // Taken once: an admin change during this event applies from the next one.
    const members = this.#chains.runnable(event);
    if (members.length === 0) return CONTINUE;
    // A driver must not reject; if one does, the message's fate is unknown: fail closed. Except a
    // payload too large to reach the sandbox at all (a message with its body, past the frame limit):
    // retrying cannot change that, so the message is refused for good rather than tempfailed forever.
    let result: ChainResult;
    try {
      result = await runRecorded(this.#chains, this.#driver, this.#log, event, payload, members, isFrameError);
    } catch (error) {
      this.#log('warn', 'agent.payload.too-large', { event, agents: members.map((m) => m.name), error: String((error as Error)?.message ?? error) });
      return TOO_LARGE;
    }
    const verdict = result.verdict;
    if (verdict.verdict !== 'continue') {
      if (isReceiveVerdict(verdict)) return verdict;
      // The host checks each verdict against its event's kind; one that is not a receive verdict here is a bug.
      this.#log('error', 'agent.dispatch.bug', { event, error: `a receive chain ended with ${verdict.verdict}` });
      return AGENT_FAILURE_VERDICT;
    }
    return result.headers !== undefined && result.headers.length > 0 ? { verdict: 'continue', headers: result.headers } : CONTINUE;
  }

  observe<E extends 'onReject' | 'onDisconnect'>(event: E, payload: ReceiveEvents[E]): void {
    void this.decide(event, payload);
  }
}
