/**
 * One sandbox round trip for an event's chain, recorded for metrics and breakers: the one way every
 * kind of agent is called (receive, routing, delivery). Never rejects for what the agents did: a
 * driver that rejects (it must not) is logged and answers the closed policy's tempfail, unless
 * `passThrough` claims the error for the caller.
 */
import type { LogFn } from '../log/logger.ts';
import type { ChainResult, SandboxDriver } from '../sandbox/protocol.ts';
import { AGENT_FAILURE_VERDICT } from '../sandbox/sandbox-verdict.ts';
import type { ChainMember } from './registry.ts';

/** What the dispatchers need from the registry. */
export interface ChainSource {
  chain(event: string): readonly ChainMember[];
  runnable(event: string): ChainMember[];
  record(event: string, members: readonly ChainMember[], result: ChainResult): void;
}

export async function runRecorded(
  chains: ChainSource,
  driver: SandboxDriver,
  log: LogFn,
  event: string,
  payload: unknown,
  members: readonly ChainMember[],
  passThrough: (error: unknown) => boolean = () => false,
): Promise<ChainResult> {
  let result: ChainResult;
  try {
    result = await driver.runChain(
      event,
      payload,
      members.map((m) => m.link),
    );
  } catch (error) {
    if (passThrough(error)) throw error;
    log('error', 'agent.dispatch.bug', { event, agents: members.map((m) => m.name), error: String((error as Error)?.stack ?? error) });
    return { verdict: AGENT_FAILURE_VERDICT, decidedBy: null, steps: [] };
  }
  chains.record(event, members, result);
  return result;
}
