/**
 * Validation of what the sandbox host sends, cheap on the hot path: a chain answer (the one message
 * per event) is checked by hand, its verdict and header edits by the SDK's valibot schemas unless the
 * verdict is a bare continue; anything the hand check does not accept, and every other message, goes
 * through the full valibot schema, which decides and names the field. The hand check only ever
 * accepts what the schema accepts, with the same output (host-message-check.test.ts holds it to that).
 */
import * as v from 'valibot';
import { isRecord, keyCount } from './shape-check.ts';
import { BodySchema, HeaderEditSchema, RecipientEditSchema } from '../../sdk/verdict-schema.ts';
import { AGENT_ID_PATTERN, HostMessageSchema, type ChainResult, type HostMessage, type Step } from './protocol.ts';
import { SandboxVerdictSchema } from './sandbox-verdict.ts';

type ChainMessage = Extract<HostMessage, { type: 'chain' }>;

const OUTCOMES: ReadonlySet<unknown> = new Set(['ok', 'timeout', 'error', 'bad-result', 'crash']);
const HeadersSchema = v.array(HeaderEditSchema);
const RecipientsSchema = v.array(RecipientEditSchema);

function isAgentId(value: unknown): value is string {
  return typeof value === 'string' && AGENT_ID_PATTERN.test(value);
}

function isStep(value: unknown): value is Step {
  if (!isRecord(value)) return false;
  const { agentId, ms, outcome, error } = value;
  if (!isAgentId(agentId) || typeof ms !== 'number' || Number.isNaN(ms) || !OUTCOMES.has(outcome)) return false;
  if (error === undefined) return keyCount(value) === 3 && !Object.hasOwn(value, 'error');
  return typeof error === 'string' && keyCount(value) === 4;
}

/** The chain answer checked by hand, or undefined when only the full schema can say (it may still be valid). */
export function checkChainMessage(value: unknown): ChainMessage | undefined {
  if (!isRecord(value) || value.type !== 'chain' || keyCount(value) !== 3) return undefined;
  const id = value.id;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) return undefined;
  const result = value.result;
  if (!isRecord(result)) return undefined;
  const { verdict, decidedBy, steps, headers, recipients, body } = result;
  const optional = ['headers', 'recipients', 'body'].filter((k) => Object.hasOwn(result, k)).length;
  if (keyCount(result) !== 3 + optional) return undefined;
  if (decidedBy !== null && !isAgentId(decidedBy)) return undefined;
  if (!Array.isArray(steps)) return undefined;
  for (const step of steps) if (!isStep(step)) return undefined;
  let checkedVerdict: ChainResult['verdict'];
  if (isRecord(verdict) && verdict.verdict === 'continue' && keyCount(verdict) === 1) checkedVerdict = verdict as ChainResult['verdict'];
  else {
    const parsed = v.safeParse(SandboxVerdictSchema, verdict);
    if (!parsed.success) return undefined;
    checkedVerdict = parsed.output;
  }
  const checked: ChainResult = { verdict: checkedVerdict, decidedBy, steps: steps as Step[] };
  if (headers !== undefined) {
    const parsed = v.safeParse(HeadersSchema, headers);
    if (!parsed.success) return undefined;
    checked.headers = parsed.output;
  } else if (Object.hasOwn(result, 'headers')) return undefined;
  if (recipients !== undefined) {
    const parsed = v.safeParse(RecipientsSchema, recipients);
    if (!parsed.success) return undefined;
    checked.recipients = parsed.output;
  } else if (Object.hasOwn(result, 'recipients')) return undefined;
  if (body !== undefined) {
    if (!v.is(BodySchema, body)) return undefined;
    checked.body = body;
  } else if (Object.hasOwn(result, 'body')) return undefined;
  return { type: 'chain', id, result: checked };
}

/** A host message validated (hand check first for chain answers), or the first issue's message. */
export function parseHostMessage(value: unknown): { success: true; output: HostMessage } | { success: false; error: string } {
  const fast = checkChainMessage(value);
  if (fast !== undefined) return { success: true, output: fast };
  const parsed = v.safeParse(HostMessageSchema, value);
  if (parsed.success) return { success: true, output: parsed.output };
  const issue = parsed.issues[0];
  const where = issue?.path?.map((p) => String(p.key)).join('.');
  return { success: false, error: `${where ? `${where}: ` : ''}${issue?.message ?? 'invalid'}` };
}
