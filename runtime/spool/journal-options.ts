// Options of the journal spool, their defaults, and the logger it reports through.
import { join } from 'node:path';
import type { LogFn } from '../log/logger.ts';

/** The server's logger shape (runtime/log/logger.ts). */
export type SpoolLog = LogFn;

export interface JournalStoreOptions {
  /** The spool directory; holds `journal/` (segments) and `quarantine/` (damaged records). */
  dir: string;
  /** A segment is rolled over once it reaches this size. Default 64 MiB. */
  segmentBytes?: number;
  /** The clock for lease checks. Default `Date.now`. */
  now?: () => number;
  log?: SpoolLog;
}

export interface ResolvedJournalOptions {
  dir: string;
  journalDir: string;
  quarantineDir: string;
  segmentBytes: number;
  now: () => number;
  log: SpoolLog;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

/** Below this a segment would hold little more than its header. */
const MIN_SEGMENT_BYTES = 1024;

export function resolveJournalOptions(options: JournalStoreOptions): ResolvedJournalOptions {
  const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  if (!Number.isInteger(segmentBytes) || segmentBytes < MIN_SEGMENT_BYTES) {
    throw new RangeError(`segmentBytes must be an integer of at least ${MIN_SEGMENT_BYTES}`);
  }
  return {
    dir: options.dir,
    journalDir: join(options.dir, 'journal'),
    quarantineDir: join(options.dir, 'quarantine'),
    segmentBytes,
    now: options.now ?? Date.now,
    log: options.log ?? ((): void => {}),
  };
}
