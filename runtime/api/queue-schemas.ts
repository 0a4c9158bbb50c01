/**
 * The queue API's valibot schemas: path and query inputs, and the documented response shapes
 * (typed against QueueAdmin's own types, so the document cannot drift from what it returns).
 */
import * as v from 'valibot';
import type { MessageDetail, MessageSummary, QueueSummary, RecipientDetail } from '../pipeline/queue-admin.ts';
import { TrackingEntrySchema } from '../tracking/tracking-entry.ts';

// ---- path and query ----

/** A spool queue id, as the 250 reply gives it (`queued as 01HZX3K5Q8…`). */
export const QUEUE_ID_PATTERN = /^[0-9A-Za-z]{8,40}$/;
export const QueueIdSchema = v.pipe(v.string(), v.regex(QUEUE_ID_PATTERN, 'expected a queue id: 8 to 40 letters and digits, e.g. 01HZX3K5Q8M9N0P1R2S3T4V5W6'));

/** `submission`, `poison`, `quarantine`, or a next hop `connector:destination`; printable ASCII without spaces. */
export const QueueNameSchema = v.pipe(
  v.string(),
  v.regex(/^[\x21-\x7e]{1,512}$/, 'expected a queue name: submission, poison, quarantine or connector:destination (e.g. maildir:example.com)'),
);

// Path parameters are checked in the handlers, not by the route table: a malformed id or queue name
// is the client's mistake (400 naming the field), where the pipeline makes every path problem a 404.
export const QueueParamsSchema = v.strictObject({
  queue: v.pipe(v.string(), v.description('submission, poison, quarantine or a next hop connector:destination, URL-encoded (maildir%3Aexample.com)')),
});
export const MessageParamsSchema = v.strictObject({
  id: v.pipe(v.string(), v.description('the queue id: 8 to 40 letters and digits (anything else is a 400 naming id)')),
});

const wholeNumber = (min: number, max: number) =>
  v.pipe(
    v.string(),
    v.regex(/^\d{1,10}$/, `expected a whole number from ${min} to ${max}`),
    v.transform(Number),
    v.minValue(min, `expected a whole number from ${min} to ${max}`),
    v.maxValue(max, `expected a whole number from ${min} to ${max}`),
  );

export const MAX_QUEUE_PAGE = 1000;

export const QueueMessagesQuerySchema = v.strictObject({
  /** 1–1000, default 100. */
  limit: v.optional(wholeNumber(1, MAX_QUEUE_PAGE), '100'),
  /** Messages to skip (oldest first), default 0. */
  offset: v.optional(wholeNumber(0, 1_000_000_000), '0'),
});

export const DeleteQuerySchema = v.strictObject({
  /** `true`: send the sender a non-delivery report for every undelivered recipient (NOTIFY permitting). Default `false`: no report. */
  ndr: v.optional(
    v.pipe(
      v.picklist(['true', 'false'], 'expected true or false'),
      v.description('send a non-delivery report for the undelivered recipients; default false (delete silently)'),
      v.transform((s) => s === 'true'),
    ),
    'false',
  ),
});

// ---- responses ----

export const QueueSummarySchema: v.GenericSchema<unknown, QueueSummary> = v.object({
  queue: v.string(),
  kind: v.picklist(['submission', 'delivery', 'poison', 'quarantine']),
  messages: v.number(),
  recipients: v.number(),
  state: v.picklist(['active', 'down', 'suspended', 'held']),
  nextRetryAt: v.nullable(v.number()),
  lastError: v.optional(v.string()),
});
export const QueueListSchema = v.object({ queues: v.array(QueueSummarySchema) });

const HoldSchema = v.object({ kind: v.string(), reason: v.string(), at: v.number() });
const messageSummaryEntries = {
  id: v.string(),
  sender: v.string(),
  recipients: v.array(v.string()),
  size: v.number(),
  receivedAt: v.number(),
  attempts: v.number(),
  nextAttemptAt: v.nullable(v.number()),
  queues: v.array(v.string()),
  hold: v.optional(HoldSchema),
  lastReply: v.optional(v.string()),
};
export const MessageSummarySchema: v.GenericSchema<unknown, MessageSummary> = v.object(messageSummaryEntries);
export const QueueMessagesSchema = v.object({ total: v.number(), messages: v.array(MessageSummarySchema) });

const RecipientDetailSchema: v.GenericSchema<unknown, RecipientDetail> = v.object({
  address: v.string(),
  original: v.optional(v.string()),
  nextHop: v.optional(v.string()),
  status: v.picklist(['pending', 'delivered', 'failed']),
  reply: v.optional(v.string()),
  at: v.optional(v.number()),
});

/** MessageDetail and its tracking history (null when the server keeps no tracking log). */
export type MessageWithTracking = MessageDetail & { tracking: v.InferOutput<typeof TrackingEntrySchema>[] | null };

export const MessageDetailSchema: v.GenericSchema<unknown, MessageWithTracking> = v.object({
  ...messageSummaryEntries,
  stage: v.picklist(['submitted', 'categorized']),
  envid: v.optional(v.string()),
  ret: v.optional(v.picklist(['FULL', 'HDRS'])),
  client: v.object({ address: v.string(), helo: v.string(), tls: v.boolean(), user: v.optional(v.string()) }),
  recipientStatus: v.array(RecipientDetailSchema),
  /** Oldest first; null when the server keeps no tracking log. */
  tracking: v.nullable(v.array(TrackingEntrySchema)),
});

export const RetriedSchema = v.object({ retried: v.number() });
