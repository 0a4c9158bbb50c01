/**
 * Validation of what the server sends the sandbox host, cheap on the hot path: a `run` line is
 * checked by hand; anything the hand check does not accept, and every other frame, goes through the
 * full valibot schema, which decides and names the field. The hand check only ever accepts what the
 * schema accepts, with the same output (host-frame-check.test.ts holds it to that).
 */
import * as v from 'valibot';
import { isRecord, keyCount } from './shape-check.ts';
import { AGENT_ID_PATTERN, EVENT_NAME_PATTERN, HostFrameSchema, type ChainLink, type HostFrame } from './protocol.ts';

type RunFrame = Extract<HostFrame, { type: 'run' }>;



function isLink(value: unknown): value is ChainLink {
  if (!isRecord(value)) return false;
  const { agentId, budgetMs, failure, body } = value;
  if (typeof agentId !== 'string' || !AGENT_ID_PATTERN.test(agentId)) return false;
  if (typeof budgetMs !== 'number' || !Number.isInteger(budgetMs) || budgetMs < 1 || budgetMs > 60_000) return false;
  let keys = 2;
  if (Object.hasOwn(value, 'failure')) {
    if (failure !== 'open' && failure !== 'closed') return false;
    keys++;
  }
  if (Object.hasOwn(value, 'body')) {
    if (typeof body !== 'boolean') return false;
    keys++;
  }
  return keyCount(value) === keys;
}

/** The run frame checked by hand, or undefined when only the full schema can say. */
export function checkRunFrame(value: unknown): RunFrame | undefined {
  if (!isRecord(value) || value.type !== 'run' || keyCount(value) !== 5) return undefined;
  const { id, event, chain, lines } = value;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) return undefined;
  if (typeof event !== 'string' || !EVENT_NAME_PATTERN.test(event)) return undefined;
  if (lines !== 1 && lines !== 2) return undefined;
  if (!Array.isArray(chain)) return undefined;
  for (const link of chain) if (!isLink(link)) return undefined;
  return value as RunFrame;
}

/** A frame validated (hand check first for runs), or the first issue as `path: message`. */
export function parseHostFrame(value: unknown): { success: true; output: HostFrame } | { success: false; error: string } {
  const fast = checkRunFrame(value);
  if (fast !== undefined) return { success: true, output: fast };
  const parsed = v.safeParse(HostFrameSchema, value);
  if (parsed.success) return { success: true, output: parsed.output };
  const issue = parsed.issues[0];
  const where = issue?.path?.map((p) => String(p.key)).join('.');
  return { success: false, error: `${where ? `${where}: ` : ''}${issue?.message ?? 'invalid request'}` };
}
