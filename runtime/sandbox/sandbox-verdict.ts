/** The verdict an agent may return from a sandbox, and the chain rule (first terminal verdict wins) as data. */
import * as v from 'valibot';
import { ReceiveVerdictSchema, type ReceiveVerdict } from '../../sdk/verdict-schema.ts';

/**
 * What an agent's handler answers; anything else is recorded as `bad-result`. The schema is the
 * SDK's (the contract is written once); routing and delivery results get theirs when they are wired.
 */
export const SandboxVerdictSchema = ReceiveVerdictSchema;
export type SandboxVerdict = ReceiveVerdict;
export type VerdictName = SandboxVerdict['verdict'];

/** Verdicts that end the chain for the event: the merge rule, as data. */
export const TERMINAL_VERDICTS: ReadonlySet<VerdictName> = new Set<VerdictName>(['reject', 'tempfail', 'disconnect']);

export const CONTINUE: SandboxVerdict = { verdict: 'continue' };

/** What a failing agent under the `closed` policy (the default) answers for the whole chain: never 250. */
export const AGENT_FAILURE_VERDICT: SandboxVerdict = {
  verdict: 'tempfail',
  code: 451,
  enhanced: '4.3.0',
  text: 'Requested action aborted: local error in processing',
};

export type StepOutcome = 'ok' | 'timeout' | 'error' | 'bad-result' | 'crash';
export type FailurePolicy = 'open' | 'closed';

/**
 * After one agent's step: `undefined` to run the next agent, or the verdict that ends the chain.
 * A failed step ends it with a tempfail unless the agent's policy is `open` (skip and continue).
 */
export function chainDecision(outcome: StepOutcome, verdict: SandboxVerdict | undefined, policy: FailurePolicy = 'closed'): SandboxVerdict | undefined {
  if (outcome !== 'ok') return policy === 'open' ? undefined : AGENT_FAILURE_VERDICT;
  if (verdict !== undefined && TERMINAL_VERDICTS.has(verdict.verdict)) return verdict;
  return undefined;
}

/** Validates the JSON text an agent produced inside its isolate. */
export function parseAgentResult(json: string): { ok: true; verdict: SandboxVerdict } | { ok: false; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { ok: false, error: 'result is not JSON' };
  }
  const parsed = v.safeParse(SandboxVerdictSchema, value);
  if (parsed.success) return { ok: true, verdict: parsed.output };
  const issue = parsed.issues[0];
  const path = issue?.path?.map((p) => String(p.key)).join('.') ?? '';
  return { ok: false, error: `invalid verdict${path ? ` at ${path}` : ''}: ${issue?.message ?? 'unknown'}` };
}
