// The schema of a stored DeliveryState: replay treats the journal as untrusted input.
import * as v from 'valibot';

/** Per-recipient delivery outcome, by index into `envelope.recipients`. */
export const RecipientStatusSchema = v.variant('state', [
  v.object({ state: v.literal('pending'), lastReply: v.optional(v.string()) }),
  v.object({ state: v.literal('delivered'), at: v.number(), reply: v.optional(v.string()) }),
  v.object({ state: v.literal('failed'), at: v.number(), reply: v.string() }),
]);

export const DeliveryStateSchema = v.object({
  attempts: v.pipe(v.number(), v.integer(), v.minValue(0)),
  /** Milliseconds since the epoch; the message is not claimable before this. */
  nextAttemptAt: v.number(),
  recipients: v.array(RecipientStatusSchema),
});

export type RecipientStatus = v.InferOutput<typeof RecipientStatusSchema>;
export type DeliveryState = v.InferOutput<typeof DeliveryStateSchema>;

/** One line naming the first problem, for logs and quarantine reasons. */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  const first = issues[0];
  if (!first) return 'invalid';
  const path = first.path?.map((item) => String(item.key)).join('.');
  return path ? `${path}: ${first.message}` : first.message;
}
