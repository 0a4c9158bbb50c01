/** The message tracking resource: search the tracking log by Message-ID, sender, recipient, queue id, event and time. */
import * as v from 'valibot';
import { TRACKING_EVENTS, TrackingEntrySchema } from '../tracking/tracking-entry.ts';
import { MAX_TRACKING_LIMIT, TrackingQueryError, type TrackingQuery, type TrackingResult } from '../tracking/tracking-query.ts';
import { parseTimestamp } from '../tracking/tracking-time.ts';
import { ApiProblem } from './problem.ts';
import { defineRoute, type ApiRoute } from './route.ts';

/** What the route needs from the server's tracking log. */
export interface TrackingSource {
  find(query: TrackingQuery): Promise<TrackingResult>;
}

const TIME_MESSAGE = 'expected an ISO 8601 date or date-time with a zone (2024-05-01T10:00:00Z) or epoch milliseconds';
const Time = v.pipe(
  v.string(),
  v.check((s) => parseTimestamp(s) !== null, TIME_MESSAGE),
  v.transform((s) => parseTimestamp(s)!),
);
const bare = (s: string): string => s.trim().replace(/^<(.*)>$/, '$1').trim();
const Address = (what: string) =>
  v.pipe(
    v.string(),
    v.maxLength(320, `expected ${what} of at most 320 characters`),
    v.check((s) => s.trim() !== '', what === 'the sender' ? 'expected an address, or <> for the null sender' : 'expected an address'),
  );

export const TrackingQueryParamsSchema = v.strictObject({
  /** The Message-ID header, with or without `<>`. */
  messageId: v.optional(
    v.pipe(v.string(), v.maxLength(998, 'expected at most 998 characters'), v.check((s) => bare(s) !== '', 'expected a Message-ID')),
  ),
  /** The envelope sender; `<>` for the null sender. The domain matches in any case, the local part exactly. */
  sender: v.optional(Address('the sender')),
  /** Any one of the recipients. */
  recipient: v.optional(v.pipe(Address('a recipient'), v.check((s) => bare(s) !== '', 'expected an address'))),
  queueId: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected a queue id such as 01HZX3K5Q8M9N0P1R2S3T4V5W6'))),
  event: v.optional(v.picklist(TRACKING_EVENTS, `expected one of ${TRACKING_EVENTS.join(', ')}`)),
  /** Inclusive. */
  from: v.optional(Time),
  /** Inclusive. */
  to: v.optional(Time),
  /** 1–1000, default 100: the newest that many when more match. */
  limit: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,7}$/, `expected a whole number from 1 to ${MAX_TRACKING_LIMIT}`),
      v.transform(Number),
      v.minValue(1, `expected a whole number from 1 to ${MAX_TRACKING_LIMIT}`),
      v.maxValue(MAX_TRACKING_LIMIT, `expected a whole number from 1 to ${MAX_TRACKING_LIMIT}`),
    ),
  ),
});

export const TrackingResultSchema = v.object({
  /** Oldest first. */
  entries: v.array(TrackingEntrySchema),
  /** More entries matched than `limit`: these are the newest of them. */
  truncated: v.boolean(),
});

export function trackingRoutes(tracking: TrackingSource | undefined): ApiRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/tracking',
      summary: 'Search message tracking: every step a message took (receive, agents, routing, delivery, DSNs), oldest first',
      tag: 'tracking',
      access: 'read',
      query: TrackingQueryParamsSchema,
      responses: {
        200: { description: 'the matching entries, the newest `limit` of them', schema: TrackingResultSchema },
        503: { description: 'message tracking is not running on this server' },
      },
      handle: async ({ query }) => {
        if (tracking === undefined) throw new ApiProblem(503, 'TRACKING_UNAVAILABLE', 'message tracking is not running on this server');
        const q: TrackingQuery = {};
        for (const [key, value] of Object.entries(query)) if (value !== undefined) (q as Record<string, unknown>)[key] = value;
        try {
          return { status: 200, json: await tracking.find(q) };
        } catch (error) {
          if (!(error instanceof TrackingQueryError)) throw error;
          // What the schema cannot see alone: a range whose end is before its start.
          throw new ApiProblem(400, 'INVALID_QUERY', error.message, { title: 'Invalid query parameter', errors: [{ field: error.field, message: error.reason }] });
        }
      },
    }),
  ];
}
