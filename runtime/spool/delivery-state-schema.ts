// The schema of a stored DeliveryState: replay treats the journal as untrusted input.
import * as v from 'valibot';
import { HeaderEditSchema } from '../../sdk/verdict-schema.ts';

/** Per-recipient delivery outcome, by index into `envelope.recipients`. */
export const RecipientStatusSchema = v.variant('state', [
  v.object({ state: v.literal('pending'), lastReply: v.optional(v.string()) }),
  v.object({ state: v.literal('delivered'), at: v.number(), reply: v.optional(v.string()) }),
  v.object({ state: v.literal('failed'), at: v.number(), reply: v.string() }),
]);

/** A recipient after categorization: resolved, edited by routing agents, and routed to a next hop. */
export const RoutedRecipientSchema = v.object({
  address: v.pipe(v.string(), v.minLength(1), v.maxLength(512)),
  /** Index of the envelope recipient it came from; absent when a routing agent added it. */
  from: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  /** The next hop: connector name and destination (the delivery queue is `connector:destination`). */
  connector: v.string(),
  destination: v.string(),
  status: RecipientStatusSchema,
  /** When it was first deferred, for the delay notice. */
  firstDeferAt: v.optional(v.number()),
  /** A delay DSN went out for it. */
  delayNotified: v.optional(v.boolean()),
  /** The host that answered last, for DSNs. */
  remoteMta: v.optional(v.string()),
  /** Reached through a distribution group (DSN action `expanded` on success). */
  expanded: v.optional(v.boolean()),
  /** A routing agent's override (connector or host), kept so that re-routing honours it. */
  override: v.optional(v.string()),
});

export const DeliveryStateSchema = v.object({
  attempts: v.pipe(v.number(), v.integer(), v.minValue(0)),
  /** Milliseconds since the epoch; the message is not claimable before this. */
  nextAttemptAt: v.number(),
  /** Per envelope recipient: the per-recipient state until categorization; after it `routed` decides and this stays as it was. */
  recipients: v.array(RecipientStatusSchema),
  /** Absent: not categorized yet (also messages spooled before the pipeline existed). */
  stage: v.optional(v.picklist(['categorized'])),
  /** After categorization: the recipients delivery works on. */
  routed: v.optional(v.array(RoutedRecipientSchema)),
  /** A routing agent replaced the body: the new one is in the pipeline's body store, used at delivery. */
  bodyReplaced: v.optional(v.literal(true)),
  /** Header edits of routing agents, applied to the stored message at delivery. */
  headerEdits: v.optional(v.array(HeaderEditSchema)),
  /** Times processing this message crashed a sandbox host or the categorizer. */
  crashes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  /** Held out of delivery until an admin releases it. */
  hold: v.optional(v.object({ kind: v.picklist(['poison', 'quarantine', 'suspended']), reason: v.string(), at: v.number() })),
});

export type RecipientStatus = v.InferOutput<typeof RecipientStatusSchema>;
export type RoutedRecipient = v.InferOutput<typeof RoutedRecipientSchema>;
export type DeliveryState = v.InferOutput<typeof DeliveryStateSchema>;

/** One line naming the first problem, for logs and quarantine reasons. */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  const first = issues[0];
  if (!first) return 'invalid';
  const path = first.path?.map((item) => String(item.key)).join('.');
  return path ? `${path}: ${first.message}` : first.message;
}
