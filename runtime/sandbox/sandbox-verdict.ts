/**
 * The verdicts an agent may return from a sandbox, per agent kind, and the chain rule (first terminal
 * verdict wins) as data. The schemas are the SDK's (the contract is written once); which one applies
 * is decided by the event, so a receive agent cannot answer `delete` nor a routing agent `disconnect`.
 */
import * as v from 'valibot';
import {
  DeliveryResultSchema,
  DisconnectSchema,
  ReceiveVerdictSchema,
  RecipientAckSchema,
  RejectSchema,
  RoutingVerdictSchema,
  TempfailSchema,
  ContinueSchema,
  type ReceiveVerdict,
} from '../../sdk/verdict-schema.ts';
import { DELIVERY_EVENTS, ROUTING_EVENTS } from '../../sdk/bundle/event-names.ts';

// The routing continue (header, recipient and body edits) is the widest: it stands for every kind's.
const [ROUTING_CONTINUE, ...ROUTING_TERMINALS] = RoutingVerdictSchema.options;

/** A delivery agent's per-recipient answers for one mail item, as a chain verdict. */
export const AckSchema = v.object({ verdict: v.literal('ack'), recipients: v.array(RecipientAckSchema) });

/** Every verdict a chain may end with, whatever the kind: what crosses the host boundary. */
export const SandboxVerdictSchema = v.variant('verdict', [
  ROUTING_CONTINUE,
  RejectSchema,
  TempfailSchema,
  DisconnectSchema,
  ...ROUTING_TERMINALS,
  AckSchema,
]);
export type SandboxVerdict = v.InferOutput<typeof SandboxVerdictSchema>;
export type VerdictName = SandboxVerdict['verdict'];

/** Verdicts that end the chain for the event: the merge rule, as data. */
export const TERMINAL_VERDICTS: ReadonlySet<VerdictName> = new Set<VerdictName>(['reject', 'tempfail', 'disconnect', 'defer', 'delete', 'quarantine', 'ack']);

export const CONTINUE: SandboxVerdict = { verdict: 'continue' };

/** What a failing agent under the `closed` policy (the default) answers for the whole chain: never 250; for a message, a deferral. */
export const AGENT_FAILURE_VERDICT: ReceiveVerdict & { verdict: 'tempfail' } = {
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

const ROUTING: ReadonlySet<string> = new Set(ROUTING_EVENTS);
const DELIVERY: ReadonlySet<string> = new Set(DELIVERY_EVENTS);
/** Opening and closing a delivery connection may only go on or refuse for now. */
const ConnectionVerdictSchema = v.variant('verdict', [ContinueSchema, TempfailSchema]);

type Parsed = { ok: true; verdict: SandboxVerdict } | { ok: false; error: string };

function fail(issues: readonly v.BaseIssue<unknown>[], what: string): Parsed {
  const issue = issues[0];
  const path = issue?.path?.map((p) => String(p.key)).join('.') ?? '';
  return { ok: false, error: `invalid ${what}${path ? ` at ${path}` : ''}: ${issue?.message ?? 'unknown'}` };
}

const CONTINUE_JSON = '{"verdict":"continue"}';

/** Validates the JSON text an agent produced inside its isolate, against the schema of `event`'s kind. */
export function parseAgentResult(event: string, json: string): Parsed {
  // What the runner makes of a handler that returns nothing: valid for every event but a delivery
  // item's (which must answer per recipient), so not parsed and validated again per agent.
  if (json === CONTINUE_JSON && event !== 'onDeliverMailItem') return { ok: true, verdict: CONTINUE };
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { ok: false, error: 'result is not JSON' };
  }
  if (event === 'onDeliverMailItem') {
    const parsed = v.safeParse(DeliveryResultSchema, value);
    return parsed.success ? { ok: true, verdict: { verdict: 'ack', recipients: parsed.output.recipients } } : fail(parsed.issues, 'delivery result');
  }
  const schema = ROUTING.has(event) ? RoutingVerdictSchema : DELIVERY.has(event) ? ConnectionVerdictSchema : ReceiveVerdictSchema;
  const parsed = v.safeParse(schema, value);
  return parsed.success ? { ok: true, verdict: parsed.output } : fail(parsed.issues, 'verdict');
}

/** The receive verdicts, for the SMTP session: a chain of receive agents can end with no other. */
export function isReceiveVerdict(verdict: SandboxVerdict): verdict is ReceiveVerdict {
  return v.is(ReceiveVerdictSchema, verdict);
}
