/**
 * What an administrator can see and do with the queues (the queue API and `sluice queue` sit on it):
 * queues by next hop with their state, the messages in each, one message's per-recipient status,
 * retry now, suspend and resume a queue, delete with or without a non-delivery report, the raw
 * message, and releasing held (poison or quarantined) messages. Every change takes the message's
 * lease first, so it never races the queue runner; a message being worked on answers BUSY.
 */
import type { Claim, DeliveryState, RoutedRecipient, SpooledMessage, SpoolStore } from '../spool/store.ts';
import { SpoolError } from '../spool/spool-error.ts';
import type { TrackingEntry } from '../tracking/index.ts';
import type { LinkState } from './link-state.ts';
import { sendReports, type ReportDeps } from './delivery-reports.ts';
import { HELD_UNTIL } from './queue-runner.ts';
import type { BodyStore } from './body-store.ts';

export type QueueKind = 'submission' | 'delivery' | 'poison' | 'quarantine';

export interface QueueSummary {
  /** `submission`, `poison`, `quarantine`, or a next hop `connector:destination`. */
  queue: string;
  kind: QueueKind;
  messages: number;
  recipients: number;
  state: 'active' | 'down' | 'suspended' | 'held';
  /** The earliest next attempt of a message in it (epoch ms), null when none is scheduled. */
  nextRetryAt: number | null;
  lastError?: string;
}

export interface MessageSummary {
  id: string;
  sender: string;
  recipients: string[];
  size: number;
  receivedAt: number;
  attempts: number;
  nextAttemptAt: number | null;
  queues: string[];
  hold?: { kind: string; reason: string; at: number };
  lastReply?: string;
}

export interface RecipientDetail {
  address: string;
  /** The envelope recipient it was resolved from, when different. */
  original?: string;
  nextHop?: string;
  status: 'pending' | 'delivered' | 'failed';
  reply?: string;
  at?: number;
}

export interface MessageDetail extends MessageSummary {
  stage: 'submitted' | 'categorized';
  envid?: string;
  ret?: 'FULL' | 'HDRS';
  client: { address: string; helo: string; tls: boolean; user?: string };
  recipientStatus: RecipientDetail[];
}

export class QueueAdminError extends Error {
  readonly code: 'NOT_FOUND' | 'BUSY' | 'NOT_HELD' | 'NO_SUCH_QUEUE' | 'SPOOL';
  constructor(code: QueueAdminError['code'], message: string) {
    super(message);
    this.name = 'QueueAdminError';
    this.code = code;
  }
}

export interface QueueAdminDeps {
  spool: SpoolStore;
  links: LinkState;
  reports: Omit<ReportDeps, 'spool' | 'track'>;
  track: (entry: TrackingEntry) => void;
  /** Tells the queue runner something became due. */
  kick: () => void;
  /** Bodies replaced by routing agents: a deleted message's goes with it. */
  bodies?: BodyStore;
  now?: () => number;
  leaseMs?: number;
}

const hopOf = (r: RoutedRecipient): string => `${r.connector}:${r.destination}`;

/** The queues a message sits in: held, waiting for categorization, or each next hop with pending recipients. */
function queuesOf(m: SpooledMessage): string[] {
  if (m.state.hold) return [m.state.hold.kind === 'suspended' ? 'submission' : m.state.hold.kind];
  if (m.state.stage !== 'categorized') return ['submission'];
  return [...new Set((m.state.routed ?? []).filter((r) => r.status.state === 'pending').map(hopOf))];
}

function summary(m: SpooledMessage): MessageSummary {
  const { envelope, state } = m;
  const last = (state.routed ?? []).map((r) => r.status).concat(state.recipients).find((s) => s.state === 'pending' && s.lastReply !== undefined);
  const out: MessageSummary = {
    id: envelope.id,
    sender: envelope.sender,
    recipients: envelope.recipients.map((r) => r.address),
    size: envelope.size,
    receivedAt: envelope.receivedAt,
    attempts: state.attempts,
    nextAttemptAt: state.nextAttemptAt >= HELD_UNTIL ? null : state.nextAttemptAt,
    queues: queuesOf(m),
  };
  if (state.hold) out.hold = { ...state.hold };
  if (last?.state === 'pending' && last.lastReply !== undefined) out.lastReply = last.lastReply;
  return out;
}

export class QueueAdmin {
  readonly #d: Required<Omit<QueueAdminDeps, 'bodies'>> & Pick<QueueAdminDeps, 'bodies'>;

  constructor(deps: QueueAdminDeps) {
    this.#d = { now: Date.now, leaseMs: 60_000, bodies: undefined, ...deps };
  }

  queues(): QueueSummary[] {
    const byQueue = new Map<string, QueueSummary>();
    const now = this.#d.now();
    for (const m of this.#d.spool.list()) {
      for (const q of queuesOf(m)) {
        let s = byQueue.get(q);
        if (s === undefined) byQueue.set(q, (s = this.#emptyQueue(q, now)));
        s.messages++;
        s.recipients += m.state.stage === 'categorized' && !m.state.hold ? (m.state.routed ?? []).filter((r) => r.status.state === 'pending' && hopOf(r) === q).length : m.envelope.recipients.length;
        if (m.state.nextAttemptAt < HELD_UNTIL && (s.nextRetryAt === null || m.state.nextAttemptAt < s.nextRetryAt)) s.nextRetryAt = m.state.nextAttemptAt;
      }
    }
    // Suspended or down queues stay visible while empty, so that they can be resumed.
    for (const hop of this.#d.links.all()) if (!byQueue.has(hop.key) && (hop.suspended || hop.downUntil > now)) byQueue.set(hop.key, this.#emptyQueue(hop.key, now));
    return [...byQueue.values()].sort((a, b) => a.queue.localeCompare(b.queue));
  }

  messages(queue: string, limit = 100, offset = 0): { total: number; messages: MessageSummary[] } {
    const all = this.#d.spool
      .list()
      .filter((m) => queuesOf(m).includes(queue))
      .sort((a, b) => a.envelope.receivedAt - b.envelope.receivedAt || a.envelope.id.localeCompare(b.envelope.id));
    return { total: all.length, messages: all.slice(offset, offset + limit).map(summary) };
  }

  message(id: string): MessageDetail {
    const m = this.#find(id);
    const { envelope, state } = m;
    const recipientStatus: RecipientDetail[] =
      state.stage === 'categorized'
        ? (state.routed ?? []).map((r) => {
            const original = r.from !== undefined ? envelope.recipients[r.from]?.address : undefined;
            return { address: r.address, ...(original !== undefined && original !== r.address ? { original } : {}), ...(r.connector ? { nextHop: hopOf(r) } : {}), ...statusFields(r.status) };
          })
        : envelope.recipients.map((r, i) => ({ address: r.address, ...statusFields(state.recipients[i] ?? { state: 'pending' }) }));
    const c = envelope.client;
    return {
      ...summary(m),
      stage: state.stage === 'categorized' ? 'categorized' : 'submitted',
      ...(envelope.envid !== undefined ? { envid: envelope.envid } : {}),
      ...(envelope.ret !== undefined ? { ret: envelope.ret } : {}),
      client: { address: c.address, helo: c.helo, tls: c.tls, ...(c.user !== undefined ? { user: c.user } : {}) },
      recipientStatus,
    };
  }

  async raw(id: string): Promise<Uint8Array> {
    this.#find(id);
    return this.#d.spool.read(id);
  }

  /** Makes the message due now (a held message must be released instead). */
  async retry(id: string): Promise<void> {
    await this.#change(id, (claim) => {
      if (claim.state.hold) throw new QueueAdminError('NOT_HELD', `message ${id} is held (${claim.state.hold.kind}): release it instead`);
      return { ...claim.state, nextAttemptAt: this.#d.now() };
    });
    this.#d.kick();
  }

  /** Every message with pending recipients in `queue` becomes due now; returns how many. */
  async retryQueue(queue: string): Promise<number> {
    let n = 0;
    for (const m of this.#d.spool.list()) {
      if (m.state.hold || !queuesOf(m).includes(queue)) continue;
      try {
        await this.retry(m.envelope.id);
        n++;
      } catch (err) {
        if (!(err instanceof QueueAdminError) || (err.code !== 'BUSY' && err.code !== 'NOT_FOUND')) throw err;
      }
    }
    return n;
  }

  async suspend(queue: string): Promise<void> {
    this.#hopQueue(queue);
    await this.#d.links.setSuspended(queue, true);
  }

  /** Lifts a suspension; its messages are tried again at once. */
  async resume(queue: string): Promise<number> {
    this.#hopQueue(queue);
    await this.#d.links.setSuspended(queue, false);
    return this.retryQueue(queue);
  }

  /** Releases a poison or quarantined message into the pipeline again (its crash count starts over). */
  async release(id: string): Promise<void> {
    const now = this.#d.now();
    let held: string | undefined;
    const claim = await this.#change(id, (c) => {
      if (!c.state.hold) throw new QueueAdminError('NOT_HELD', `message ${id} is not held`);
      held = c.state.hold.kind;
      const { hold: _hold, crashes: _crashes, ...rest } = c.state;
      return { ...rest, nextAttemptAt: now };
    });
    this.#d.track({ at: now, event: 'RELEASE', queueId: id, sender: claim.envelope.sender, recipients: claim.envelope.recipients.map((r) => r.address), detail: { from: held ?? '' } });
    this.#d.kick();
  }

  /** Removes the message; with `ndr`, its undelivered recipients get a failure report first (NOTIFY permitting). */
  async delete(id: string, ndr: boolean): Promise<void> {
    const now = this.#d.now();
    const claim = await this.#lease(id);
    try {
      const { envelope, state } = claim;
      if (ndr) {
        const reply = '550 5.3.0 deleted from the queue by the administrator';
        const pending: RoutedRecipient[] =
          state.stage === 'categorized'
            ? (state.routed ?? []).filter((r) => r.status.state === 'pending')
            : envelope.recipients.flatMap((r, i) => (state.recipients[i]?.state === 'pending' ? [{ address: r.address, from: i, connector: '', destination: '', status: { state: 'pending' as const } }] : []));
        const notices = pending.map((r) => ({ recipient: { ...r, status: { state: 'failed' as const, at: now, reply } }, action: 'failed' as const, diagnostic: reply }));
        const original = await this.#d.spool.read(id);
        await sendReports({ ...this.#d.reports, spool: this.#d.spool, track: this.#d.track }, envelope, original, notices, now);
      }
      await this.#d.spool.complete(claim.lease);
      await this.#d.bodies?.remove(id).catch(() => {});
      this.#d.track({ at: now, event: 'DELETE', queueId: id, sender: envelope.sender, recipients: envelope.recipients.map((r) => r.address), reply: ndr ? 'deleted by the administrator, with a non-delivery report' : 'deleted by the administrator, without a report' });
    } catch (err) {
      throw err instanceof QueueAdminError ? err : new QueueAdminError('SPOOL', `could not delete ${id}: ${(err as Error).message}`);
    }
  }

  #emptyQueue(queue: string, now: number): QueueSummary {
    const kind: QueueKind = queue === 'submission' || queue === 'poison' || queue === 'quarantine' ? queue : 'delivery';
    const s: QueueSummary = { queue, kind, messages: 0, recipients: 0, state: kind === 'poison' || kind === 'quarantine' ? 'held' : 'active', nextRetryAt: null };
    if (kind === 'delivery') {
      const hop = this.#d.links.get(queue);
      if (hop.suspended) s.state = 'suspended';
      else if (hop.downUntil > now) s.state = 'down';
      if (hop.lastError !== undefined) s.lastError = hop.lastError;
    }
    return s;
  }

  #hopQueue(queue: string): void {
    if (!/^[a-z0-9][a-z0-9_-]*:.+$/.test(queue)) throw new QueueAdminError('NO_SUCH_QUEUE', `${queue} is not a delivery queue (expected connector:destination, e.g. direct:example.com)`);
  }

  #find(id: string): SpooledMessage {
    const m = this.#d.spool.list().find((x) => x.envelope.id === id);
    if (m === undefined) throw new QueueAdminError('NOT_FOUND', `no message ${id} in the queue`);
    return m;
  }

  async #lease(id: string): Promise<Claim> {
    let claim: Claim | null;
    try {
      claim = await this.#d.spool.claimById(id, this.#d.now(), this.#d.leaseMs);
    } catch (err) {
      if (err instanceof SpoolError && err.code === 'NOT_FOUND') throw new QueueAdminError('NOT_FOUND', `no message ${id} in the queue`);
      throw err;
    }
    if (claim === null) throw new QueueAdminError('BUSY', `message ${id} is being worked on; try again in a moment`);
    return claim;
  }

  /** Leases the message, writes what `change` makes of its state, and ends the lease. */
  async #change(id: string, change: (claim: Claim) => DeliveryState): Promise<Claim> {
    const claim = await this.#lease(id);
    let next: DeliveryState;
    try {
      next = change(claim);
    } catch (err) {
      // Give the lease back unchanged.
      await this.#d.spool.update(claim.lease, claim.state).catch(() => {});
      throw err;
    }
    await this.#d.spool.update(claim.lease, next);
    return claim;
  }
}

function statusFields(s: DeliveryState['recipients'][number]): Pick<RecipientDetail, 'status' | 'reply' | 'at'> {
  if (s.state === 'pending') return { status: 'pending', ...(s.lastReply !== undefined ? { reply: s.lastReply } : {}) };
  if (s.state === 'failed') return { status: 'failed', reply: s.reply, at: s.at };
  return { status: 'delivered', at: s.at, ...(s.reply !== undefined ? { reply: s.reply } : {}) };
}
