// Frees disk space: deletes the oldest segment once nothing live needs it, moving a few stragglers forward first.
import type { SpoolLog } from './journal-options.ts';
import type { JournalRecord, JournalWriter } from './journal-writer.ts';
import { RecordType } from './record.ts';
import { encodeEnvelope, encodeState, messagePayloadParts } from './record-payload.ts';
import type { SegmentFile } from './segment-file.ts';
import type { SegmentSet } from './segment-set.ts';
import type { SegmentPins, SpoolEntry, SpoolIndex } from './spool-index.ts';

/**
 * Relocate when the live messages in the oldest segment are at most this share of a segment (each
 * byte copied frees at least as many), or when the dead bytes it holds back are at least
 * GARBAGE_FACTOR times what the copy costs (a big message deferred for days must not keep the whole
 * journal from shrinking). Either way copying stays bounded by the space it wins.
 */
const RELOCATE_MAX_LIVE_SHARE = 0.5;
const GARBAGE_FACTOR = 2;

/** Relocated messages go out in commits of about this size, so accepts never wait behind a big one. */
const MOVE_CHUNK_BYTES = 1024 * 1024;

interface MoveRecord {
  record: JournalRecord;
  /** Where the message bytes start inside the payload. */
  prefixLength: number;
}

export interface ReclaimerDeps {
  index: SpoolIndex;
  segments: SegmentSet;
  writer: JournalWriter;
  segmentBytes: number;
  log: SpoolLog;
}

/**
 * The rule: a segment may be deleted only when no live message's ACCEPT/MOVE or latest STATE is
 * in it AND it is the oldest. Deleting out of order could drop a DONE while the ACCEPT it cancels
 * survives in an older segment, and the message would come back on replay.
 */
export class Reclaimer {
  readonly stats = { segmentsDeleted: 0, messagesMoved: 0 };
  private readonly deps: ReclaimerDeps;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(deps: ReclaimerDeps) {
    this.deps = deps;
  }

  /** Schedules a pass (cheap when there is nothing to do); passes never overlap. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async (): Promise<void> => {
      do {
        await Promise.resolve();
        this.again = false;
        await this.pass();
      } while (this.again && !this.stopped);
    })()
      .catch((err: unknown) => this.deps.log('warn', 'spool reclamation stopped', { error: String(err) }))
      .finally(() => (this.running = undefined));
  }

  /** No new passes; resolves when the current one is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    while (this.running) await this.running;
  }

  private async pass(): Promise<void> {
    const { index, segments, writer, segmentBytes, log } = this.deps;
    while (!this.stopped) {
      const oldest = segments.oldest();
      if (!oldest || oldest.number === writer.activeSegment) return;
      const pins = index.pinsOf(oldest.number);
      if (pins.entries.size === 0) {
        await segments.removeOldest();
        this.stats.segmentsDeleted++;
        log('debug', 'journal segment deleted', { segment: oldest.number });
        continue;
      }
      const garbage = segments.totalBytes - index.bytes;
      if (pins.bytes > segmentBytes * RELOCATE_MAX_LIVE_SHARE && pins.bytes * GARBAGE_FACTOR > garbage) return;
      if (!(await this.relocate(oldest, pins))) return;
    }
  }

  /** Re-appends the messages that pin `oldest`; false if some could not move now (a write of theirs is pending). */
  private async relocate(oldest: SegmentFile, pins: SegmentPins): Promise<boolean> {
    const { index, writer } = this.deps;
    const waiting = [...pins.entries];
    let blocked = false;
    while (waiting.length > 0 && !this.stopped) {
      const chunk: SpoolEntry[] = [];
      let bytes = 0;
      while (waiting.length > 0 && (chunk.length === 0 || bytes < MOVE_CHUNK_BYTES)) {
        const entry = waiting.pop()!;
        chunk.push(entry);
        bytes += entry.length;
      }
      const messages = await Promise.all(chunk.map((entry) => oldest.read(entry.offset, entry.length)));
      // From here to submit nothing awaits: the records carry the state as it is now, and any
      // update or complete submitted later lands after them in the log.
      const moves: { entry: SpoolEntry; move: MoveRecord }[] = [];
      chunk.forEach((entry, i) => {
        if (index.get(entry.id) !== entry || entry.segment !== oldest.number) return; // completed meanwhile
        if (entry.busy) blocked = true; // its pending STATE or DONE would land before our copy
        else moves.push({ entry, move: moveRecord(entry, messages[i]!) });
      });
      if (moves.length === 0) continue;
      await writer.submit(
        moves.map(({ move }) => move.record),
        (placements) => {
          moves.forEach(({ entry, move }, i) => {
            const placed = placements[i]!;
            if (index.get(entry.id) === entry) {
              index.moveTo(entry, placed.segment, placed.payloadOffset + move.prefixLength);
            }
          });
        },
      );
      this.stats.messagesMoved += moves.length;
    }
    return !blocked && !this.stopped;
  }
}

/** A MOVE record: the entry's envelope, its current state and its message, in one checksummed unit. */
function moveRecord(entry: SpoolEntry, message: Uint8Array): MoveRecord {
  const envelope = encodeEnvelope(entry.envelope);
  const state = encodeState(entry.id, entry.state);
  if (!envelope.ok || !state.ok) throw new Error(`live entry ${entry.id} no longer encodes`);
  const { parts, prefixLength } = messagePayloadParts(envelope.value.json, state.value.json, [message]);
  return { record: { type: RecordType.move, parts, length: prefixLength + message.length }, prefixLength };
}
