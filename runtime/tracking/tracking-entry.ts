/** One line of the message tracking log: what happened to a message, when, and where it went. */
import * as v from 'valibot';

/** Every step the pipeline records. */
export const TRACKING_EVENTS = [
  'RECEIVE', 'AGENT', 'RESOLVE', 'EXPAND', 'ROUTE', 'DEFER', 'DELIVER', 'FAIL',
  'DSN', 'DELETE', 'QUARANTINE', 'POISON', 'RELEASE', 'FORK', 'SUBMIT',
] as const;

export type TrackingEvent = (typeof TRACKING_EVENTS)[number];

export interface TrackingEntry {
  /** Epoch milliseconds; also decides the UTC day file the entry is written to. */
  at: number;
  event: TrackingEvent;
  queueId: string;
  /** The Message-ID header, without `<>`. */
  messageId?: string;
  /** The envelope sender; `''` is the null sender. */
  sender?: string;
  recipients?: string[];
  /** `smtp:example.com`, `maildir:localhost`, … */
  nextHop?: string;
  /** The SMTP reply or the reason. */
  reply?: string;
  agent?: string;
  agentEvent?: string;
  verdict?: string;
  ms?: number;
  detail?: Record<string, string | number | boolean>;
}

/** The entry as the API documents it; typed against the interface so the two cannot drift. */
export const TrackingEntrySchema: v.GenericSchema<unknown, TrackingEntry> = v.object({
  at: v.number(),
  event: v.picklist(TRACKING_EVENTS),
  queueId: v.string(),
  messageId: v.optional(v.string()),
  sender: v.optional(v.string()),
  recipients: v.optional(v.array(v.string())),
  nextHop: v.optional(v.string()),
  reply: v.optional(v.string()),
  agent: v.optional(v.string()),
  agentEvent: v.optional(v.string()),
  verdict: v.optional(v.string()),
  ms: v.optional(v.number()),
  detail: v.optional(v.record(v.string(), v.union([v.string(), v.number(), v.boolean()]))),
});

const EVENT_SET: ReadonlySet<string> = new Set(TRACKING_EVENTS);
const STRING_FIELDS = ['messageId', 'sender', 'nextHop', 'reply', 'agent', 'agentEvent', 'verdict'] as const;

/**
 * True when a parsed log line has the shape of an entry. A hand check, not valibot: search runs it
 * on every line of every file it reads, and the lines were written by this process's own code.
 */
export function isTrackingEntry(value: unknown): value is TrackingEntry {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const e = value as Record<string, unknown>;
  if (typeof e.at !== 'number' || typeof e.queueId !== 'string' || typeof e.event !== 'string' || !EVENT_SET.has(e.event)) return false;
  for (const field of STRING_FIELDS) if (e[field] !== undefined && typeof e[field] !== 'string') return false;
  if (e.recipients !== undefined && !(Array.isArray(e.recipients) && e.recipients.every((r) => typeof r === 'string'))) return false;
  return true;
}
