// The in-memory index of live messages: where each lives on disk, its state, its lease, and what pins each segment.
import { randomUUID } from 'node:crypto';
import type { Envelope } from './envelope.ts';
import type { Claim, DeliveryState, Lease } from './store.ts';
import { DueHeap, type DueNode } from './due-heap.ts';

export interface SpoolEntry {
  readonly id: string;
  readonly envelope: Envelope;
  state: DeliveryState;
  /** The segment of the latest ACCEPT or MOVE record, and the message bytes inside it. */
  segment: number;
  offset: number;
  length: number;
  /** The segment of the latest record that carries the state (STATE, or the ACCEPT/MOVE itself). */
  stateSegment: number;
  lease: Lease | undefined;
  /** An update or complete is being committed: not claimable, not relocatable. */
  busy: boolean;
  /** Bumped on every change that makes queued heap nodes for this entry stale. */
  version: number;
  readonly seq: number;
}

export interface SegmentPins {
  /** Live entries whose message or latest state is in the segment. */
  readonly entries: ReadonlySet<SpoolEntry>;
  /** Message bytes of the live entries whose message is in the segment. */
  readonly bytes: number;
}

const NO_PINS: SegmentPins = { entries: new Set(), bytes: 0 };

export class SpoolIndex {
  private readonly entries = new Map<string, SpoolEntry>();
  private readonly pins = new Map<number, { entries: Set<SpoolEntry>; bytes: number }>();
  private readonly heap = new DueHeap<SpoolEntry>();
  private nextSeq = 0;
  private totalBytes = 0;

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get(id: string): SpoolEntry | undefined {
    return this.entries.get(id);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  values(): IterableIterator<SpoolEntry> {
    return this.entries.values();
  }

  add(fields: Omit<SpoolEntry, 'lease' | 'busy' | 'version' | 'seq'>): SpoolEntry {
    const entry: SpoolEntry = { ...fields, lease: undefined, busy: false, version: 0, seq: this.nextSeq++ };
    this.entries.set(entry.id, entry);
    this.totalBytes += entry.length;
    this.pin(entry);
    this.schedule(entry, entry.state.nextAttemptAt);
    return entry;
  }

  remove(entry: SpoolEntry): void {
    if (this.entries.get(entry.id) !== entry) return;
    this.unpin(entry);
    this.entries.delete(entry.id);
    this.totalBytes -= entry.length;
    entry.version++;
  }

  /** The message was re-appended (MOVE): message and state now live in `segment`. */
  moveTo(entry: SpoolEntry, segment: number, offset: number): void {
    this.unpin(entry);
    entry.segment = segment;
    entry.offset = offset;
    entry.stateSegment = segment;
    this.pin(entry);
  }

  setState(entry: SpoolEntry, state: DeliveryState, segment: number): void {
    this.unpin(entry);
    entry.state = state;
    entry.stateSegment = segment;
    this.pin(entry);
  }

  /** Makes the entry claimable from `at` (replacing any earlier schedule). */
  schedule(entry: SpoolEntry, at: number): void {
    entry.version++;
    this.heap.push({ at, receivedAt: entry.envelope.receivedAt, seq: entry.seq, item: entry, version: entry.version });
    if (this.heap.size > 2 * this.entries.size + 1024) this.compact();
  }

  /** Leases up to `max` entries due at `now`, earliest due first, then oldest. */
  claim(now: number, max: number, leaseMs: number): Claim[] {
    const claims: Claim[] = [];
    while (claims.length < max) {
      const top = this.heap.peek();
      if (!top || top.at > now) break;
      this.heap.pop();
      const entry = top.item;
      if (!this.isCurrent(top) || entry.busy) continue; // a pending write reschedules it when done
      if (entry.lease && entry.lease.expiresAt > now) continue;
      const lease: Lease = { id: entry.id, token: randomUUID(), expiresAt: now + leaseMs };
      entry.lease = lease;
      // Reclaimable once the lease runs out without an update or complete.
      this.schedule(entry, lease.expiresAt);
      claims.push({ lease, envelope: structuredClone(entry.envelope), state: structuredClone(entry.state) });
    }
    return claims;
  }

  /**
   * Leases one message whatever its due time (an admin acting on it), unless another lease holds it
   * or a write is in flight: then null, and the caller says it is busy.
   */
  claimOne(id: string, now: number, leaseMs: number): Claim | null {
    const entry = this.entries.get(id);
    if (!entry || entry.busy || (entry.lease && entry.lease.expiresAt > now)) return null;
    const lease: Lease = { id: entry.id, token: randomUUID(), expiresAt: now + leaseMs };
    entry.lease = lease;
    this.schedule(entry, lease.expiresAt);
    return { lease, envelope: structuredClone(entry.envelope), state: structuredClone(entry.state) };
  }

  /** The earliest time something becomes claimable, if anything is queued. */
  nextDueAt(): number | undefined {
    for (;;) {
      const top = this.heap.peek();
      if (!top) return undefined;
      if (this.isCurrent(top) && !top.item.busy) return top.at;
      this.heap.pop();
    }
  }

  pinsOf(segment: number): SegmentPins {
    return this.pins.get(segment) ?? NO_PINS;
  }

  private isCurrent(node: DueNode<SpoolEntry>): boolean {
    return node.version === node.item.version && this.entries.get(node.item.id) === node.item;
  }

  private pin(entry: SpoolEntry): void {
    this.pinSet(entry.segment).bytes += entry.length;
    this.pinSet(entry.segment).entries.add(entry);
    this.pinSet(entry.stateSegment).entries.add(entry);
  }

  private unpin(entry: SpoolEntry): void {
    const segments = entry.segment === entry.stateSegment ? [entry.segment] : [entry.segment, entry.stateSegment];
    for (const segment of segments) {
      const pins = this.pins.get(segment);
      if (!pins) continue;
      pins.entries.delete(entry);
      if (segment === entry.segment) pins.bytes -= entry.length;
      if (pins.entries.size === 0) this.pins.delete(segment);
    }
  }

  private pinSet(segment: number): { entries: Set<SpoolEntry>; bytes: number } {
    let pins = this.pins.get(segment);
    if (!pins) this.pins.set(segment, pins = { entries: new Set(), bytes: 0 });
    return pins;
  }

  private compact(): void {
    const current: DueNode<SpoolEntry>[] = [];
    // Every live entry's newest node is the only current one; collect them by draining.
    for (let node = this.heap.pop(); node; node = this.heap.pop()) if (this.isCurrent(node)) current.push(node);
    this.heap.rebuild(current);
  }
}
