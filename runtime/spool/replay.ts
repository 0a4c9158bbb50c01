// Rebuilds the live set from the segments in log order, quarantining damage and cutting a torn tail.
import { type FileHandle, lstat, open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Envelope } from './envelope.ts';
import type { DeliveryState, RecoveryReport } from './store.ts';
import type { SpoolLog } from './journal-options.ts';
import { RecordType } from './record.ts';
import { decodeDonePayload, decodeMessagePayload, decodeStatePayload, initialState } from './record-payload.ts';
import { decodeSegmentHeader, SEGMENT_HEADER_BYTES, segmentFileName, segmentNumberOf } from './segment-header.ts';
import { type ScanEvent, scanSegment } from './segment-scan.ts';
import { SegmentFile } from './segment-file.ts';
import { SegmentSet, syncDirectory } from './segment-set.ts';
import { quarantineBytes } from './quarantine.ts';

export interface ReplayedEntry {
  envelope: Envelope;
  state: DeliveryState;
  segment: number;
  offset: number;
  length: number;
  stateSegment: number;
}

export interface ReplayResult {
  /** Live messages in order of first acceptance. */
  entries: Map<string, ReplayedEntry>;
  segments: SegmentSet;
  /** The newest segment, if appends can continue in it. */
  active: SegmentFile | undefined;
  report: RecoveryReport;
}

export interface ReplayOptions {
  journalDir: string;
  quarantineDir: string;
  segmentBytes: number;
  log: SpoolLog;
}

export async function replayJournal(options: ReplayOptions): Promise<ReplayResult> {
  const { journalDir } = options;
  const segments = new SegmentSet(journalDir);
  const context: ReplayContext = {
    options,
    entries: new Map(),
    report: { recovered: 0, quarantined: [] },
  };
  const numbers = (await readdir(journalDir))
    .map(segmentNumberOf)
    .filter((n): n is number => n !== undefined)
    .sort((a, b) => a - b);
  let last: SegmentFile | undefined;
  try {
    for (const [index, number] of numbers.entries()) {
      segments.noteNumber(number);
      const file = await replaySegment(context, number, index === numbers.length - 1);
      if (file) segments.add(last = file);
    }
    // Also makes durable the entry of a newest segment whose creator died before syncing it: we are
    // about to append acknowledged records to it.
    await syncDirectory(journalDir);
    if (context.report.quarantined.length > 0) await syncDirectory(options.quarantineDir);
  } catch (err) {
    await segments.closeAll();
    throw err;
  }
  context.report.recovered = context.entries.size;
  const active = last && !last.sealed ? last : undefined;
  return { entries: context.entries, segments, active, report: context.report };
}

interface ReplayContext {
  options: ReplayOptions;
  entries: Map<string, ReplayedEntry>;
  report: RecoveryReport;
}

/** Replays one segment into the context; returns it opened, or undefined if it held nothing usable. */
async function replaySegment(
  context: ReplayContext,
  number: number,
  newest: boolean,
): Promise<SegmentFile | undefined> {
  const { options, entries } = context;
  const { log } = options;
  const path = join(options.journalDir, segmentFileName(number));
  if (!(await lstat(path)).isFile()) {
    log('warn', 'journal entry is not a regular file; skipped', { path });
    return undefined;
  }
  const handle = await open(path, 'r+');
  try {
    const image = await readWhole(handle);
    const header = decodeSegmentHeader(image, number);
    if (typeof header === 'string') {
      await handle.close();
      // A segment created but not yet written when the process died holds nothing; anything else is damage.
      if (image.length > 0 && !(newest && image.length < SEGMENT_HEADER_BYTES)) {
        await setAside(context, number, 0, image, header);
      } else {
        log('warn', 'empty journal segment removed', { segment: number, bytes: image.length });
      }
      await unlink(path);
      return undefined;
    }

    let size = image.length;
    let damagedTail = false;
    for (const event of scanSegment(image, header, SEGMENT_HEADER_BYTES, newest)) {
      if (event.kind === 'record') {
        const reason = applyRecord(entries, image, event, number, log);
        if (reason) await setAside(context, number, event.start, image.subarray(event.start, event.end), reason);
      } else if (event.kind === 'damage') {
        await setAside(context, number, event.start, image.subarray(event.start, event.end), event.reason);
        damagedTail ||= event.end === image.length;
      } else {
        if (event.damaged) await setAside(context, number, event.start, image.subarray(event.start), event.reason);
        log('warn', 'torn tail of the newest journal segment truncated', {
          segment: number,
          offset: event.start,
          bytes: image.length - event.start,
          reason: event.reason,
        });
        size = event.start;
        await handle.truncate(size);
      }
    }
    if (newest) await handle.datasync();
    const file = new SegmentFile(number, path, handle, header, size, false);
    file.sealed = !newest || damagedTail || size >= options.segmentBytes;
    return file;
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}

async function setAside(
  context: ReplayContext,
  segment: number,
  start: number,
  bytes: Uint8Array,
  reason: string,
): Promise<void> {
  const file = await quarantineBytes(context.options.quarantineDir, segment, start, bytes, reason);
  context.report.quarantined.push({ file, reason });
  context.options.log('error', 'damaged journal entry quarantined', {
    segment,
    offset: start,
    bytes: bytes.length,
    reason,
    file,
  });
}

/** Applies one checked record to the live set; returns a reason if its content is unusable. */
function applyRecord(
  entries: Map<string, ReplayedEntry>,
  image: Buffer,
  record: Extract<ScanEvent, { kind: 'record' }>,
  segment: number,
  log: SpoolLog,
): string | undefined {
  const { payloadStart, end } = record;
  if (record.type === RecordType.accept || record.type === RecordType.move) {
    const payload = decodeMessagePayload(image, payloadStart, end);
    if (!payload.ok) return payload.reason;
    const { envelope, state, messageStart, messageLength } = payload.value;
    const existing = entries.get(envelope.id);
    entries.set(envelope.id, {
      envelope,
      state: state ?? existing?.state ?? initialState(envelope),
      segment,
      offset: messageStart,
      length: messageLength,
      stateSegment: segment,
    });
    return undefined;
  }
  if (record.type === RecordType.state) {
    const payload = decodeStatePayload(image, payloadStart, end);
    if (!payload.ok) return payload.reason;
    const entry = entries.get(payload.value.id);
    if (!entry) {
      log('debug', 'state for a message that is not live; ignored', { id: payload.value.id, segment });
      return undefined;
    }
    if (payload.value.state.recipients.length !== entry.envelope.recipients.length) {
      return 'state and envelope disagree on the recipients';
    }
    entry.state = payload.value.state;
    entry.stateSegment = segment;
    return undefined;
  }
  const done = decodeDonePayload(image, payloadStart, end);
  if (!done.ok) return done.reason;
  entries.delete(done.value);
  return undefined;
}

async function readWhole(handle: FileHandle): Promise<Buffer> {
  const size = (await handle.stat()).size;
  const image = Buffer.allocUnsafe(size);
  let done = 0;
  while (done < size) {
    const { bytesRead } = await handle.read(image, done, size - done, done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === size ? image : image.subarray(0, done);
}
