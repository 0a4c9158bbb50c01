// The schema of a stored DeliveryState: replay treats the journal as untrusted input.
import * as v from 'valibot';
import type { DeliveryState } from './store.ts';

export const RecipientStatusSchema = v.variant('state', [
  v.object({ state: v.literal('pending'), lastReply: v.optional(v.string()) }),
  v.object({ state: v.literal('delivered'), at: v.number(), reply: v.optional(v.string()) }),
  v.object({ state: v.literal('failed'), at: v.number(), reply: v.string() }),
]);

export const DeliveryStateSchema = v.object({
  attempts: v.pipe(v.number(), v.integer(), v.minValue(0)),
  nextAttemptAt: v.number(),
  recipients: v.array(RecipientStatusSchema),
});

// The contract's hand-written type and this schema must describe the same values, both ways.
type SchemaState = v.InferOutput<typeof DeliveryStateSchema>;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesContract: Same<SchemaState, DeliveryState> = true;
void schemaMatchesContract;

/** One line naming the first problem, for logs and quarantine reasons. */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  const first = issues[0];
  if (!first) return 'invalid';
  const path = first.path?.map((item) => String(item.key)).join('.');
  return path ? `${path}: ${first.message}` : first.message;
}
