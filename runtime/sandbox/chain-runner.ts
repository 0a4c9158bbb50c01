/** The chain rule every driver applies: agents in order, first terminal verdict wins, failures per policy, header and recipient edits merged. */
import type { HeaderEdit, RecipientEdit } from '../../sdk/verdict-schema.ts';
import { payloadLineFor } from './payload-lines.ts';
import type { ChainLink, ChainResult, Step } from './protocol.ts';
import { chainDecision, CONTINUE, parseAgentResult, type SandboxVerdict } from './sandbox-verdict.ts';

/** What one bounded call into one agent produced, before the host looked at it. */
export type RawOutcome =
  | { kind: 'result'; json: string }
  | { kind: 'no-handler' }
  | { kind: 'bad-result'; error: string }
  | { kind: 'error'; error: string }
  | { kind: 'timeout'; error: string };

/** Calls one agent's handler for `event` under `budgetMs`; resolves with what happened, never rejects for what the agent did. */
export type CallAgent = (agentId: string, event: string, payloadJson: string, budgetMs: number) => RawOutcome | Promise<RawOutcome>;

function toStep(event: string, agentId: string, ms: number, raw: RawOutcome): { step: Step; verdict?: SandboxVerdict } {
  switch (raw.kind) {
    case 'no-handler':
      return { step: { agentId, ms, outcome: 'ok' }, verdict: CONTINUE };
    case 'result': {
      const parsed = parseAgentResult(event, raw.json);
      if (parsed.ok) return { step: { agentId, ms, outcome: 'ok' }, verdict: parsed.verdict };
      return { step: { agentId, ms, outcome: 'bad-result', error: parsed.error } };
    }
    default:
      return { step: { agentId, ms, outcome: raw.kind, error: raw.error } };
  }
}

/**
 * Runs `chain` for one event. `lines` is the payload as `payloadLines` serialized it (once, with and
 * without the body); each agent gets its line. `beforeStep` is told which agent runs next and what is
 * done, so that a driver whose process may die can attribute the death to that agent.
 */
export async function runChainWith(
  event: string,
  lines: readonly string[],
  chain: readonly ChainLink[],
  call: CallAgent,
  beforeStep: (agentId: string, done: Step[]) => void = () => {},
): Promise<ChainResult> {
  const steps: Step[] = [];
  // Edits of agents that continue accumulate in chain order; a terminal verdict discards them.
  const headers: HeaderEdit[] = [];
  const recipients: RecipientEdit[] = [];
  let body: string | undefined;
  for (const link of chain) {
    beforeStep(link.agentId, steps);
    const started = performance.now();
    let raw: RawOutcome;
    try {
      const answer = call(link.agentId, event, payloadLineFor(link, lines), link.budgetMs);
      raw = answer instanceof Promise ? await answer : answer;
    } catch (error) {
      raw = { kind: 'error', error: `sandbox driver: ${error instanceof Error ? error.message : String(error)}` };
    }
    const ms = Math.round((performance.now() - started) * 100) / 100;
    const { step, verdict } = toStep(event, link.agentId, ms, raw);
    steps.push(step);
    const decided = chainDecision(step.outcome, verdict, link.failure);
    if (decided !== undefined) return { verdict: decided, decidedBy: link.agentId, steps };
    if (step.outcome === 'ok' && verdict?.verdict === 'continue') {
      if (verdict.headers) headers.push(...verdict.headers);
      if (verdict.recipients) recipients.push(...verdict.recipients);
      if (verdict.body !== undefined) body = verdict.body;
    }
  }
  const result: ChainResult = { verdict: CONTINUE, decidedBy: null, steps };
  if (headers.length > 0) result.headers = headers;
  if (recipients.length > 0) result.recipients = recipients;
  if (body !== undefined) result.body = body;
  return result;
}
