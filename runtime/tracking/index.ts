/** Message tracking: the append-only log of every step a message takes, and its search. */
export { TRACKING_EVENTS, TrackingEntrySchema, type TrackingEntry, type TrackingEvent } from './tracking-entry.ts';
export {
  DEFAULT_TRACKING_MAX_FILE_BYTES,
  DEFAULT_TRACKING_RETENTION_MS,
  TrackingLog,
  type TrackingLogOptions,
} from './tracking-log.ts';
export {
  DEFAULT_TRACKING_LIMIT,
  MAX_TRACKING_LIMIT,
  TrackingQueryError,
  type TrackingQuery,
  type TrackingResult,
} from './tracking-query.ts';
export { parseDuration, parseTimestamp } from './tracking-time.ts';
