// The local spool: a log-structured journal with group commit behind the SpoolStore contract.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Envelope } from './envelope.ts';
import type { Claim, DeliveryState, Lease, RecoveryReport, SpooledMessage, SpoolStats, SpoolStore } from './store.ts';
import { SpoolError } from './spool-error.ts';
import { type JournalStoreOptions, type ResolvedJournalOptions, resolveJournalOptions } from './journal-options.ts';
import { RecordType } from './record.ts';
import { encodeDone, encodeEnvelope, encodeState, initialState, messagePayloadParts } from './record-payload.ts';
import { JournalWriter } from './journal-writer.ts';
import { SegmentSet, syncDirectory } from './segment-set.ts';
import { type SpoolEntry, SpoolIndex } from './spool-index.ts';
import { Reclaimer } from './reclaimer.ts';
import { Notifier } from './notifier.ts';
import { replayJournal } from './replay.ts';

export interface JournalStats extends SpoolStats {
  /** Write + fdatasync rounds that succeeded; each may carry many callers' records. */
  flushes: number;
  records: number;
  bytesWritten: number;
  failedFlushes: number;
  segments: number;
  segmentsCreated: number;
  segmentsDeleted: number;
  messagesMoved: number;
}

type Phase = 'new' | 'opening' | 'open' | 'closing' | 'closed';

interface Running {
  segments: SegmentSet;
  writer: JournalWriter;
  reclaimer: Reclaimer;
}

export class JournalStore implements SpoolStore {
  private readonly options: ResolvedJournalOptions;
  private readonly index = new SpoolIndex();
  private readonly notifier: Notifier;
  private readonly accepting = new Set<string>();
  private phase: Phase = 'new';
  private running: Running | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: JournalStoreOptions) {
    this.options = resolveJournalOptions(options);
    this.notifier = new Notifier(this.options.log);
  }

  async open(): Promise<RecoveryReport> {
    if (this.phase !== 'new') throw new SpoolError('SPOOL_CLOSED', `open() on a spool that is ${this.phase}`);
    this.phase = 'opening';
    try {
      const { dir, journalDir, quarantineDir, segmentBytes, log } = this.options;
      await mkdir(journalDir, { recursive: true });
      await mkdir(quarantineDir, { recursive: true });
      // The folders themselves must survive a crash before any 250 depends on them.
      await syncDirectory(dir);
      await syncDirectory(dirname(dir)).catch(() => undefined);
      const replay = await replayJournal({ journalDir, quarantineDir, segmentBytes, log });
      for (const [id, entry] of replay.entries) this.index.add({ id, ...entry });
      const writer = new JournalWriter(replay.segments, segmentBytes, log);
      if (replay.active) writer.adopt(replay.active);
      const reclaimer = new Reclaimer({
        index: this.index,
        segments: replay.segments,
        writer,
        segmentBytes,
        log,
      });
      if (this.closing) {
        await replay.segments.closeAll();
        throw new SpoolError('SPOOL_CLOSED', 'the spool was closed while opening');
      }
      this.running = { segments: replay.segments, writer, reclaimer };
      this.phase = 'open';
      log('info', 'spool opened', { dir, messages: this.index.size, segments: replay.segments.count });
      reclaimer.kick();
      if (this.index.size > 0) this.notifier.notify();
      return replay.report;
    } catch (err) {
      this.phase = 'closed';
      throw err;
    }
  }

  async accept(envelope: Envelope, message: readonly Uint8Array[]): Promise<void> {
    const { writer } = this.live();
    const encoded = encodeEnvelope(envelope);
    if (!encoded.ok) throw new SpoolError('SPOOL_IO', `envelope fails the spool schema: ${encoded.reason}`);
    const stored = encoded.value.envelope;
    const id = stored.id;
    if (this.index.has(id) || this.accepting.has(id)) {
      throw new SpoolError('SPOOL_IO', `queue id ${id} is already spooled`);
    }
    let length = 0;
    for (const part of message) length += part.length;
    const { parts, prefixLength } = messagePayloadParts(encoded.value.json, undefined, message);
    this.accepting.add(id);
    try {
      await writer.submit([{ type: RecordType.accept, parts, length: prefixLength + length }], ([placed]) => {
        const { segment, payloadOffset } = placed!;
        const offset = payloadOffset + prefixLength;
        this.index.add({
          id,
          envelope: stored,
          state: initialState(stored),
          segment,
          offset,
          length,
          stateSegment: segment,
        });
        this.notifier.notify();
      });
    } finally {
      this.accepting.delete(id);
    }
  }

  // deno-lint-ignore require-await -- async so that SPOOL_CLOSED arrives as a rejection, like every other call
  async claim(now: number, max: number, leaseMs: number): Promise<Claim[]> {
    this.live();
    if (!(max > 0) || !(leaseMs > 0)) return [];
    return this.index.claim(now, Math.floor(max), leaseMs);
  }

  // deno-lint-ignore require-await -- async so that SPOOL_CLOSED arrives as a rejection
  async claimById(id: string, now: number, leaseMs: number): Promise<Claim | null> {
    this.live();
    if (!this.index.has(id)) throw new SpoolError('NOT_FOUND', `no message ${id} in the spool`);
    return this.index.claimOne(id, now, leaseMs);
  }

  list(): SpooledMessage[] {
    const out: SpooledMessage[] = [];
    const now = this.options.now();
    for (const entry of this.index.values()) {
      out.push({ envelope: entry.envelope, state: entry.state, leased: entry.busy || (entry.lease !== undefined && entry.lease.expiresAt > now) });
    }
    return out;
  }

  async read(id: string): Promise<Uint8Array> {
    const { segments } = this.live();
    const entry = this.index.get(id);
    const file = entry && segments.get(entry.segment);
    if (!entry || !file) throw new SpoolError('NOT_FOUND', `no message ${id} in the spool`);
    return await file.read(entry.offset, entry.length);
  }

  async update(lease: Lease, state: DeliveryState): Promise<void> {
    const { writer, reclaimer } = this.live();
    const entry = this.leased(lease);
    const encoded = encodeState(entry.id, state);
    if (!encoded.ok) throw new SpoolError('SPOOL_IO', `delivery state fails the spool schema: ${encoded.reason}`);
    const next = encoded.value.state;
    if (next.recipients.length !== entry.envelope.recipients.length) {
      throw new SpoolError('SPOOL_IO', 'delivery state and envelope disagree on the recipients');
    }
    const json = encoded.value.json;
    const record = { type: RecordType.state, parts: [json], length: json.length };
    await this.writeUnderLease(entry, () =>
      writer.submit([record], ([placed]) => {
        entry.busy = false;
        this.index.setState(entry, next, placed!.segment);
        this.index.schedule(entry, next.nextAttemptAt);
        if (next.nextAttemptAt <= this.options.now()) this.notifier.notify();
        reclaimer.kick();
      }));
  }

  async complete(lease: Lease): Promise<void> {
    const { writer, reclaimer } = this.live();
    const entry = this.leased(lease);
    const id = encodeDone(entry.id);
    const record = { type: RecordType.done, parts: [id], length: id.length };
    await this.writeUnderLease(entry, () =>
      writer.submit([record], () => {
        entry.busy = false;
        this.index.remove(entry);
        reclaimer.kick();
      }));
  }

  subscribe(listener: () => void): () => void {
    return this.notifier.subscribe(listener);
  }

  stats(): SpoolStats {
    return { messages: this.index.size, bytes: this.index.bytes };
  }

  /** Counters for tests and metrics, beyond the contract's `stats()`. */
  journalStats(): JournalStats {
    const writer = this.running?.writer.stats;
    const reclaimer = this.running?.reclaimer.stats;
    return {
      ...this.stats(),
      flushes: writer?.flushes ?? 0,
      records: writer?.records ?? 0,
      bytesWritten: writer?.bytes ?? 0,
      failedFlushes: writer?.failedFlushes ?? 0,
      segments: this.running?.segments.count ?? 0,
      segmentsCreated: writer?.segmentsCreated ?? 0,
      segmentsDeleted: reclaimer?.segmentsDeleted ?? 0,
      messagesMoved: reclaimer?.messagesMoved ?? 0,
    };
  }

  /** When the next message becomes claimable, for a queue runner's timer; undefined if none is queued. */
  nextDueAt(): number | undefined {
    return this.index.nextDueAt();
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.phase === 'new') {
      this.phase = 'closed';
      return Promise.resolve();
    }
    this.phase = 'closing';
    const running = this.running;
    this.closing = (async (): Promise<void> => {
      if (running) {
        await running.reclaimer.stop();
        await running.writer.close();
        await running.segments.closeAll();
      }
      this.phase = 'closed';
    })();
    return this.closing;
  }

  private live(): Running {
    if (this.phase !== 'open' || !this.running) throw new SpoolError('SPOOL_CLOSED', `the spool is ${this.phase}`);
    return this.running;
  }

  /** The entry the lease holds, or LEASE_LOST if it expired, was superseded, or the message left. */
  private leased(lease: Lease): SpoolEntry {
    const entry = this.index.get(lease.id);
    const held = entry?.lease;
    if (!entry || entry.busy || !held || held.token !== lease.token || held.expiresAt <= this.options.now()) {
      throw new SpoolError('LEASE_LOST', `the lease on ${lease.id} expired or was superseded`);
    }
    return entry;
  }

  /**
   * Ends the lease while the write is in flight (nobody can claim or write the entry meanwhile).
   * If the write fails, the lease comes back as it was: the caller may retry while it lasts.
   */
  private async writeUnderLease(entry: SpoolEntry, write: () => Promise<void>): Promise<void> {
    const held = entry.lease!;
    entry.lease = undefined;
    entry.busy = true;
    try {
      await write();
    } catch (err) {
      entry.busy = false;
      entry.lease = held;
      this.index.schedule(entry, held.expiresAt);
      throw err;
    }
  }
}
