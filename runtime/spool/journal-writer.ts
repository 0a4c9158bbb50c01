// Group commit: every record submitted while a flush runs goes out in the next single write + fdatasync.
import { SpoolError, spoolErrorFrom } from './spool-error.ts';
import { encodeRecordHeader, MAX_PAYLOAD_BYTES, RECORD_HEADER_BYTES, type RecordTypeCode } from './record.ts';
import { encodeSegmentHeader, SEGMENT_HEADER_BYTES } from './segment-header.ts';
import { SegmentFile } from './segment-file.ts';
import { type SegmentSet, syncDirectory } from './segment-set.ts';
import type { SpoolLog } from './journal-options.ts';

export interface JournalRecord {
  type: RecordTypeCode;
  /** The payload; written as is, never copied. */
  parts: readonly Uint8Array[];
  length: number;
}

/** Where a committed record's payload landed. */
export interface Placement {
  segment: number;
  payloadOffset: number;
}

export interface WriterStats {
  /** Successful write + fdatasync rounds. */
  flushes: number;
  records: number;
  bytes: number;
  failedFlushes: number;
  segmentsCreated: number;
}

interface Request {
  records: readonly JournalRecord[];
  onCommit: (placements: Placement[]) => void;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A batch stops growing here, so one flush never holds an unbounded amount of memory. */
const MAX_BATCH_BYTES = 16 * 1024 * 1024;

export class JournalWriter {
  readonly stats: WriterStats = { flushes: 0, records: 0, bytes: 0, failedFlushes: 0, segmentsCreated: 0 };
  private readonly segments: SegmentSet;
  private readonly segmentBytes: number;
  private readonly log: SpoolLog;
  private queue: Request[] = [];
  private running: Promise<void> | undefined;
  private active: SegmentFile | undefined;
  private closed = false;

  constructor(segments: SegmentSet, segmentBytes: number, log: SpoolLog) {
    this.segments = segments;
    this.segmentBytes = segmentBytes;
    this.log = log;
  }

  /** Continues appending to a segment found on replay. */
  adopt(file: SegmentFile): void {
    this.active = file;
  }

  /** The segment appends currently go to (never reclaimed). */
  get activeSegment(): number | undefined {
    return this.active?.number;
  }

  /**
   * Resolves once the records are durable. `onCommit` runs first, synchronously and in log order
   * across all callers, so in-memory state follows the journal exactly. Rejects with a SpoolError.
   */
  submit(records: readonly JournalRecord[], onCommit: (placements: Placement[]) => void): Promise<void> {
    if (this.closed) return Promise.reject(new SpoolError('SPOOL_CLOSED', 'the spool is closed'));
    if (records.some((record) => record.length > MAX_PAYLOAD_BYTES)) {
      // The length field could not hold it, and replay would see damage where a message was.
      return Promise.reject(new SpoolError('SPOOL_IO', `a journal record is limited to ${MAX_PAYLOAD_BYTES} bytes`));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ records, onCommit, resolve, reject });
      this.running ??= this.run();
    });
  }

  /** Flushes what was submitted, then refuses more. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.running) await this.running;
  }

  private async run(): Promise<void> {
    // Let callers that submit in the same tick join the first batch.
    await Promise.resolve();
    while (this.queue.length > 0) {
      const batch = this.takeBatch();
      try {
        await this.flush(batch);
      } catch (err) {
        // A bug, not an I/O failure (those are handled inside); still, nobody may wait forever.
        this.log('error', 'journal flush threw', { error: String(err) });
        this.fail(batch, spoolErrorFrom(err, 'journal flush'));
      }
    }
    this.running = undefined;
  }

  private takeBatch(): Request[] {
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length && (count === 0 || bytes < MAX_BATCH_BYTES)) {
      for (const record of this.queue[count]!.records) bytes += RECORD_HEADER_BYTES + record.length;
      count++;
    }
    return this.queue.splice(0, count);
  }

  private async flush(batch: Request[]): Promise<void> {
    let total = 0;
    for (const request of batch) for (const record of request.records) total += RECORD_HEADER_BYTES + record.length;
    let file: SegmentFile;
    try {
      file = await this.segmentFor(total);
    } catch (err) {
      this.fail(batch, spoolErrorFrom(err, 'create journal segment'));
      return;
    }
    const start = file.size;
    const chunks: Uint8Array[] = [];
    let pos = start;
    if (start === 0) {
      chunks.push(encodeSegmentHeader(file.header));
      pos = SEGMENT_HEADER_BYTES;
    }
    const placements: Placement[][] = [];
    for (const request of batch) {
      const placed: Placement[] = [];
      for (const record of request.records) {
        chunks.push(encodeRecordHeader(file.header, record.type, record.parts, record.length));
        for (const part of record.parts) chunks.push(part);
        placed.push({ segment: file.number, payloadOffset: pos + RECORD_HEADER_BYTES });
        pos += RECORD_HEADER_BYTES + record.length;
      }
      placements.push(placed);
    }

    try {
      file.writeAt(chunks, start, pos - start);
    } catch (err) {
      const error = spoolErrorFrom(err, 'write journal');
      await this.afterFailedWrite(file, start, error);
      this.fail(batch, error);
      return;
    }
    try {
      await file.datasync();
      if (file.needsDirSync) {
        await syncDirectory(this.segments.dir);
        file.needsDirSync = false;
      }
    } catch (err) {
      // fsyncgate: the kernel may have dropped these pages and would report the next fsync clean.
      // Nothing in this batch is acknowledged, and nothing more is ever appended to this file.
      const error = spoolErrorFrom(err, 'sync journal');
      await this.seal(file, start, error);
      this.fail(batch, error);
      return;
    }

    file.size = pos;
    if (file.size >= this.segmentBytes) file.sealed = true;
    this.stats.flushes++;
    this.stats.bytes += pos - start;
    for (let i = 0; i < batch.length; i++) {
      const request = batch[i]!;
      this.stats.records += request.records.length;
      try {
        request.onCommit(placements[i]!);
      } catch (err) {
        this.log('error', 'spool commit callback failed', { error: String(err) });
      }
      request.resolve();
    }
  }

  /** The active segment if the batch fits, else a new one. A fresh segment takes any batch. */
  private async segmentFor(total: number): Promise<SegmentFile> {
    const current = this.active;
    if (
      current && !current.sealed && (current.size <= SEGMENT_HEADER_BYTES || current.size + total <= this.segmentBytes)
    ) {
      return current;
    }
    if (current) current.sealed = true;
    const file = await SegmentFile.create(this.segments.dir, this.segments.nextNumber());
    this.segments.add(file);
    this.active = file;
    this.stats.segmentsCreated++;
    return file;
  }

  /**
   * A failed write left the tail in an unknown state. Out of space (nothing reached the page cache
   * past the failure): cut back to the last good offset and keep going. Anything else, or if the
   * cut fails: seal the segment so the next batch starts a new one.
   */
  private async afterFailedWrite(file: SegmentFile, goodSize: number, error: SpoolError): Promise<void> {
    if (error.code === 'SPOOL_FULL') {
      try {
        await file.truncate(goodSize);
        this.log('warn', 'journal write failed; truncated to the last good offset', {
          segment: file.number,
          error: error.message,
        });
        return;
      } catch {
        // fall through to sealing
      }
    }
    await this.seal(file, goodSize, error);
  }

  private async seal(file: SegmentFile, goodSize: number, error: SpoolError): Promise<void> {
    file.sealed = true;
    // Best effort only: fewer unacknowledged records for replay to find. They would be harmless
    // duplicates (the client got no 250 and will resend), never a loss.
    await file.truncate(goodSize).catch(() => undefined);
    this.log('error', 'journal segment sealed after a failed write or sync', {
      segment: file.number,
      size: goodSize,
      error: error.message,
    });
  }

  private fail(batch: Request[], error: SpoolError): void {
    this.stats.failedFlushes++;
    for (const request of batch) request.reject(error);
  }
}
