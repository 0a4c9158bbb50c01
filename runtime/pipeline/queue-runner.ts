/**
 * Moves messages through the pipeline: claim a batch (leased); categorize what is not categorized
 * yet (routing agents, recipient resolution, routing); deliver each pending recipient through its
 * next hop's connector; record the outcome durably — complete when every recipient is final,
 * otherwise update with the next attempt time — and spool the DSNs the outcome calls for.
 *
 * Categorization with routing agents is committed (an update) before delivery sees it, so a crash
 * re-runs it from the submitted message and never re-runs an agent's decision after delivery
 * started. Without routing agents it is a pure function of the config, so it runs in memory and
 * its result is committed with the first delivery attempt. A crash between delivery and the record
 * redelivers (at-least-once); a recipient recorded as delivered is never delivered again.
 */
import type { Claim, DeliveryState, RecipientStatus, RoutedRecipient, SpoolStore } from '../spool/store.ts';
import { SpoolError } from '../spool/spool-error.ts';
import type { Connector, ConnectorItem, NextHop, RecipientOutcome } from '../delivery/connector.ts';
import { applyHeaderEdits, parseHeaders } from '../message/headers.ts';
import { concatBytes } from '../platform/bytes.ts';
import type { TrackingEntry } from '../tracking/index.ts';
import type { DsnAction } from '../reports/dsn.ts';
import { splitAddress } from '../routing/address-key.ts';
import { Categorizer, messageIdOf, type ForkGroup } from './categorizer.ts';
import type { RoutingChain } from './routing-chain.ts';
import type { Router } from '../routing/router.ts';
import type { BodyStore } from './body-store.ts';
import type { CrashMarks } from './crash-marks.ts';
import { headerSectionEnd } from '../message/headers.ts';
import type { LinkState } from './link-state.ts';
import { sendReports, type Notice, type ReportDeps } from './delivery-reports.ts';
import { DEFAULT_RETRY, isExpired, retryDelay, type RetryPolicy } from './retry-schedule.ts';
import type { LogFn } from '../log/logger.ts';

/** `nextAttemptAt` of a held message: never due until an admin releases it. */
export const HELD_UNTIL = 8_640_000_000_000_000;

export interface QueueRunnerOptions {
  spool: SpoolStore;
  categorizer: Categorizer;
  /** Routes pending recipients again at every attempt, so a changed route applies to mail already queued. */
  router: Router;
  /** Where bodies replaced by routing agents are kept. */
  bodies: BodyStore;
  /** Marks around categorization, so that a crash of the whole process counts against the message. */
  marks: CrashMarks;
  agents: RoutingChain;
  connectors: readonly Connector[];
  links: LinkState;
  reports: Omit<ReportDeps, 'spool' | 'track'>;
  log: LogFn;
  track?: (entry: TrackingEntry) => void;
  now?: () => number;
  /** Messages claimed per batch. */
  batchSize?: number;
  /** Batches in flight at once. */
  workers?: number;
  leaseMs?: number;
  /** How often to look for deferred messages that became due. */
  pollMs?: number;
  /**
   * After new mail arrives, wait this long before claiming, so deliveries go out in batches that
   * share directory fsyncs and journal commits instead of one small batch per accepted message.
   */
  gatherMs?: number;
  retry?: RetryPolicy;
  /** Send a delay DSN once a recipient has been deferred this long. */
  delayNoticeMs?: number;
  /** Crashes while processing one message before it goes to the poison queue. */
  poisonAfter?: number;
  /** Messages claimed and not yet recorded, at most: what a slow next hop can hold up. */
  maxInFlight?: number;
  /** Deliveries in flight at once to one next hop (a connector's `maxConnections` overrides it). */
  hopConcurrency?: (connector: string) => number;
}

/** One claimed message on its way to delivery, with what this attempt found out. */
interface Prepared {
  claim: Claim;
  state: DeliveryState & { routed: RoutedRecipient[] };
  /** The message as delivered: routing agents' header edits applied. */
  message: Uint8Array;
  original: Uint8Array;
  messageId: string | undefined;
  /** Outcomes by index into `state.routed`. */
  outcomes: Map<number, RecipientOutcome>;
  /** Indexes that categorization just failed (they need a report too). */
  failedNow: number[];
  /** Next hops still delivering for this message; it is recorded when none is left. */
  hopsLeft: number;
}

const hopKey = (r: Pick<RoutedRecipient, 'connector' | 'destination'>): string => `${r.connector}:${r.destination}`;

export class QueueRunner {
  readonly #o: Required<Omit<QueueRunnerOptions, 'connectors' | 'track'>> & { track: (entry: TrackingEntry) => void };
  readonly #connectors = new Map<string, Connector>();
  #active = 0;
  #again = false;
  #stopped = false;
  #poll: ReturnType<typeof setInterval> | undefined;
  #gathering: ReturnType<typeof setTimeout> | undefined;
  #unsubscribe: (() => void) | undefined;
  #idle: (() => void)[] = [];
  /** Messages claimed and not recorded yet, and the promises that will record them. */
  #inFlight = 0;
  readonly #recording = new Set<Promise<void>>();
  /** Per next hop: deliveries running, and the ones waiting for a slot. */
  readonly #hops = new Map<string, { active: number; waiting: (() => void)[] }>();

  constructor(opts: QueueRunnerOptions) {
    this.#o = {
      now: Date.now,
      batchSize: 64,
      workers: 2,
      leaseMs: 5 * 60_000,
      pollMs: 1000,
      gatherMs: 10,
      retry: DEFAULT_RETRY,
      delayNoticeMs: 4 * 3600_000,
      poisonAfter: 3,
      maxInFlight: 1024,
      hopConcurrency: () => 4,
      track: () => {},
      ...opts,
    };
    for (const c of opts.connectors) this.#connectors.set(c.name, c);
  }

  /** Counts the crashes the last run left marked, then starts claiming. */
  async start(): Promise<void> {
    await this.#countProcessCrashes();
    // Bodies of messages that left the spool just before a crash.
    void this.#o.bodies
      .sweep(new Set(this.#o.spool.list().map((m) => m.envelope.id)))
      .catch((err: unknown) => this.#o.log('warn', 'queue.body-sweep-failed', { error: String((err as Error)?.message ?? err) }));
    this.#unsubscribe = this.#o.spool.subscribe(() => this.#gather());
    this.#poll = setInterval(() => this.kick(), this.#o.pollMs);
    this.#poll.unref?.();
    this.kick();
  }

  /** Each message the process died categorizing gets a crash; the poison queue takes it at `poisonAfter`. */
  async #countProcessCrashes(): Promise<void> {
    const now = this.#o.now();
    for (const [id, n] of await this.#o.marks.read()) {
      let claim: Claim | null = null;
      try {
        claim = await this.#o.spool.claimById(id, now, this.#o.leaseMs);
      } catch {
        continue; // gone from the spool since
      }
      if (claim === null) continue;
      const crashes = (claim.state.crashes ?? 0) + n;
      this.#o.log('warn', 'categorizer.process-crash', { id, crashes });
      if (crashes >= this.#o.poisonAfter) await this.#hold(claim, { ...claim.state, crashes }, 'poison', `the server process died ${crashes} times while categorizing it`, now, undefined);
      else await this.#save(claim, { ...claim.state, crashes, nextAttemptAt: now });
    }
    await this.#o.marks.start();
  }

  /** New mail: look after `gatherMs`, once, however many arrive meanwhile. */
  #gather(): void {
    if (this.#gathering !== undefined || this.#stopped) return;
    this.#gathering = setTimeout(() => {
      this.#gathering = undefined;
      this.kick();
    }, this.#o.gatherMs);
  }

  /** Something may be due: make sure a worker looks. */
  kick(): void {
    if (this.#stopped) return;
    if (this.#active >= this.#o.workers) {
      this.#again = true;
      return;
    }
    this.#active++;
    void this.#work().finally(() => {
      this.#active--;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        this.kick();
      }
      if (this.#active === 0) for (const resolve of this.#idle.splice(0)) resolve();
    });
  }

  /** Stops claiming and waits for batches in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#poll);
    clearTimeout(this.#gathering);
    this.#unsubscribe?.();
    if (this.#active > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
    while (this.#recording.size > 0) await Promise.allSettled([...this.#recording]);
  }

  async #work(): Promise<void> {
    for (;;) {
      if (this.#stopped) return;
      const room = Math.min(this.#o.batchSize, this.#o.maxInFlight - this.#inFlight);
      // Full: a message that finishes recording kicks again.
      if (room <= 0) return;
      let claims: Claim[];
      try {
        claims = await this.#o.spool.claim(this.#o.now(), room, this.#o.leaseMs);
      } catch (err) {
        this.#o.log('error', 'queue.claim-failed', { error: String((err as Error)?.message ?? err) });
        return;
      }
      if (claims.length === 0) return;
      await this.#processBatch(claims);
    }
  }

  /**
   * Categorizes the batch, then hands each next hop its items and returns without waiting for them:
   * next hops are independent queues, and a slow one must hold up neither the others nor the next
   * claim. Each message is recorded as soon as its own next hops are done.
   */
  async #processBatch(claims: Claim[]): Promise<void> {
    const now = this.#o.now();
    this.#inFlight += claims.length;
    let prepared: Prepared[];
    try {
      prepared = await this.#prepareAll(claims, now);
    } finally {
      // Settled in #prepare (deferred, deleted, held, committed) are no longer in flight; the rest are counted again below.
      this.#inFlight -= claims.length;
    }
    this.#inFlight += prepared.length;
    // Per next hop, the items it must take: one per message, with that message's recipients for the hop.
    const perHop = new Map<string, { hop: NextHop; entries: { p: Prepared; item: ConnectorItem }[] }>();
    for (const p of prepared) {
      const items = new Map<string, ConnectorItem>();
      p.state.routed.forEach((r, index) => {
        if (r.status.state !== 'pending') return;
        const key = hopKey(r);
        const blocked = this.#o.links.blocked(key, now);
        if (blocked !== null) return void p.outcomes.set(index, { index, outcome: 'deferred', reply: blocked.reason });
        let item = items.get(key);
        if (item === undefined) {
          items.set(key, (item = { envelope: p.claim.envelope, message: p.message, recipients: [] }));
          const group = perHop.get(key) ?? { hop: { connector: r.connector, destination: r.destination }, entries: [] };
          group.entries.push({ p, item });
          perHop.set(key, group);
        }
        const { localPart, domain } = splitAddress(r.address);
        item.recipients.push({ index, address: r.address, localPart, domain: (domain ?? '').toLowerCase() });
      });
    }
    for (const group of perHop.values()) for (const { p } of group.entries) p.hopsLeft++;
    // Messages with nothing to deliver now (every hop blocked, or only failures) are recorded at once.
    for (const p of prepared) if (p.hopsLeft === 0) this.#recordWhenDone(p);
    for (const [key, group] of perHop) {
      void this.#withHopSlot(key, group.hop.connector, () => this.#deliverHop(key, group.hop, group.entries, this.#o.now()))
        .catch((err: unknown) => this.#o.log('error', 'queue.delivery-bug', { queue: key, error: String((err as Error)?.stack ?? err) }))
        .then(() => {
          for (const { p } of group.entries) if (--p.hopsLeft === 0) this.#recordWhenDone(p);
        });
    }
  }

  /**
   * Categorizes (where needed) inside crash marks. A message that crashed before is categorized on
   * its own after the others, so that a crash it causes again is counted against it alone.
   */
  async #prepareAll(claims: Claim[], now: number): Promise<Prepared[]> {
    const fresh = claims.filter((c) => c.state.stage !== 'categorized' && !(c.state.crashes ?? 0));
    const suspects = claims.filter((c) => c.state.stage !== 'categorized' && (c.state.crashes ?? 0) > 0);
    const rest = claims.filter((c) => c.state.stage === 'categorized');
    const out: (Prepared | null)[] = [];
    const ids = fresh.map((c) => c.envelope.id);
    this.#o.marks.begin(ids);
    out.push(...(await Promise.all([...fresh, ...rest].map((claim) => this.#prepare(claim, now)))));
    this.#o.marks.end(ids);
    for (const claim of suspects) {
      this.#o.marks.begin([claim.envelope.id]);
      out.push(await this.#prepare(claim, now));
      this.#o.marks.end([claim.envelope.id]);
    }
    return out.filter((p): p is Prepared => p !== null);
  }

  #recordWhenDone(p: Prepared): void {
    const done = this.#record(p, this.#o.now())
      .catch((err: unknown) => this.#o.log('error', 'queue.record-failed', { id: p.claim.envelope.id, error: String((err as Error)?.stack ?? err) }))
      .finally(() => {
        this.#recording.delete(done);
        this.#inFlight--;
        this.kick();
      });
    this.#recording.add(done);
  }

  /** Runs `task` when the next hop has a free slot (its connector's concurrency). */
  async #withHopSlot(key: string, connector: string, task: () => Promise<void>): Promise<void> {
    let hop = this.#hops.get(key);
    if (hop === undefined) this.#hops.set(key, (hop = { active: 0, waiting: [] }));
    if (hop.active >= Math.max(1, this.#o.hopConcurrency(connector))) await new Promise<void>((resolve) => hop.waiting.push(resolve));
    hop.active++;
    try {
      await task();
    } finally {
      hop.active--;
      const next = hop.waiting.shift();
      if (next) next();
      else if (hop.active === 0) this.#hops.delete(key);
    }
  }

  /** Reads and, when needed, categorizes a claimed message; null when it is settled for this round. */
  async #prepare(claim: Claim, now: number): Promise<Prepared | null> {
    const { envelope, state } = claim;
    let original: Uint8Array;
    try {
      original = await this.#o.spool.read(envelope.id);
    } catch (err) {
      const reply = `451 4.3.0 spool read failed: ${(err as Error).message}`;
      this.#o.log('error', 'queue.read-failed', { id: envelope.id, error: reply });
      await this.#save(claim, { ...state, attempts: state.attempts + 1, nextAttemptAt: now + retryDelay(state.attempts + 1, this.#o.retry) });
      return null;
    }
    const messageId = messageIdOf(parseHeaders(original));
    let current: DeliveryState = state;
    const failedNow: number[] = [];
    if (current.stage !== 'categorized') {
      let result: Awaited<ReturnType<Categorizer['categorize']>>;
      try {
        result = await this.#o.categorizer.categorize(envelope, state, original, now);
      } catch (err) {
        this.#o.log('error', 'categorizer.failed', { id: envelope.id, error: String((err as Error)?.stack ?? err) });
        result = { kind: 'defer', reason: `categorizer failed: ${(err as Error)?.message ?? err}`, crashed: true };
      }
      const base = { at: now, queueId: envelope.id, ...(messageId !== undefined ? { messageId } : {}), sender: envelope.sender, recipients: envelope.recipients.map((r) => r.address) };
      switch (result.kind) {
        case 'delete':
          this.#o.track({ ...base, event: 'DELETE', reply: result.reason, ...(result.agent ? { agent: result.agent } : {}) });
          this.#o.log('info', 'message.deleted', { id: envelope.id, by: result.agent ?? '', reason: result.reason });
          await this.#finish(claim, false);
          return null;
        case 'quarantine':
          await this.#hold(claim, state, 'quarantine', `${result.agent ?? 'agent'}: ${result.reason}`, now, messageId);
          return null;
        case 'defer': {
          const crashes = (state.crashes ?? 0) + (result.crashed ? 1 : 0);
          if (result.crashed && crashes >= this.#o.poisonAfter) {
            await this.#hold(claim, { ...state, crashes }, 'poison', `crashed ${crashes} times: ${result.reason}`, now, messageId);
            return null;
          }
          const byAgent = result.delayMs !== undefined;
          const attempts = byAgent ? state.attempts : state.attempts + 1;
          const at = now + (result.delayMs ?? retryDelay(attempts, this.#o.retry));
          this.#o.track({ ...base, event: 'DEFER', reply: result.reason, detail: { stage: 'categorizer', retryAt: new Date(at).toISOString() } });
          this.#o.log('warn', 'message.deferred', { id: envelope.id, from: envelope.sender, to: base.recipients, result: 'deferred', reply: result.reason, retryAt: new Date(at).toISOString() });
          await this.#save(claim, { ...state, attempts, nextAttemptAt: at, ...(crashes > 0 ? { crashes } : {}) });
          return null;
        }
        case 'routed':
          if (result.forks.length > 0 && !(await this.#spoolForks(claim, original, result.forks, now, messageId))) {
            await this.#save(claim, { ...state, attempts: state.attempts + 1, nextAttemptAt: now + retryDelay(state.attempts + 1, this.#o.retry) });
            return null;
          }
          if (result.body !== undefined) {
            try {
              await this.#o.bodies.put(envelope.id, result.body);
            } catch (err) {
              this.#o.log('error', 'queue.body-store-failed', { id: envelope.id, error: String((err as Error)?.message ?? err) });
              await this.#save(claim, { ...state, attempts: state.attempts + 1, nextAttemptAt: now + retryDelay(state.attempts + 1, this.#o.retry) });
              return null;
            }
          }
          current = {
            ...state,
            stage: 'categorized',
            routed: result.routed,
            ...(result.headerEdits.length > 0 ? { headerEdits: result.headerEdits } : {}),
            ...(result.body !== undefined ? { bodyReplaced: true as const } : {}),
          };
          result.routed.forEach((r, i) => {
            if (r.status.state === 'failed') failedNow.push(i);
          });
          if (this.#o.agents.any()) {
            // Agents decided: commit their decision before any delivery acts on it.
            if (failedNow.length > 0) await this.#report(claim.envelope, original, current as Prepared['state'], failedNow.map((i) => ({ i, action: 'failed' as const })), now, messageId);
            if (current.routed!.some((r) => r.status.state === 'pending')) await this.#save(claim, { ...current, nextAttemptAt: now });
            else await this.#finish(claim, result.body !== undefined);
            return null;
          }
      }
    }
    const routed = (current.routed ?? []).map((r) => ({ ...r }));
    failedNow.push(...this.#reroute(envelope.id, routed, now, messageId));
    let message = original;
    if (current.headerEdits !== undefined && current.headerEdits.length > 0) {
      const edited = applyHeaderEdits(original, current.headerEdits);
      if (edited.ok) message = concatBytes(edited.message);
      else this.#o.log('warn', 'agent.header-edit.refused', { id: envelope.id, error: edited.error });
    }
    if (current.bodyReplaced) {
      try {
        message = withBody(message, await this.#o.bodies.get(envelope.id));
      } catch (err) {
        // Never deliver the old body in its place: wait until the replacement can be read.
        this.#o.log('error', 'queue.body-read-failed', { id: envelope.id, error: String((err as Error)?.message ?? err) });
        await this.#save(claim, { ...current, attempts: current.attempts + 1, nextAttemptAt: now + retryDelay(current.attempts + 1, this.#o.retry) });
        return null;
      }
    }
    return { claim, state: { ...current, routed }, message, original, messageId, outcomes: new Map(), failedNow, hopsLeft: 0 };
  }

  async #deliverHop(key: string, hop: NextHop, all: { p: Prepared; item: ConnectorItem }[], now: number): Promise<void> {
    // A message that waited so long for this hop that its lease is about to run out is not sent:
    // another worker may claim it any moment, and two deliveries must not race.
    const entries = all.filter((e) => e.p.claim.lease.expiresAt - now > this.#o.leaseMs / 4);
    for (const e of all) {
      if (entries.includes(e)) continue;
      for (const r of e.item.recipients) e.p.outcomes.set(r.index, { index: r.index, outcome: 'deferred', reply: `451 4.4.0 not attempted: waited too long for a slot to ${key}` });
    }
    if (entries.length === 0) return;
    const connector = this.#connectors.get(hop.connector);
    let got: RecipientOutcome[][];
    if (connector === undefined) {
      got = entries.map((e) => e.item.recipients.map((r): RecipientOutcome => ({ index: r.index, outcome: 'deferred', reply: `451 4.4.0 connector ${hop.connector} is not available` })));
    } else {
      try {
        got = await connector.deliver(hop, entries.map((e) => e.item));
      } catch (err) {
        // Connectors must not reject; if one does, nothing is known to be delivered: retry later.
        this.#o.log('error', 'connector.bug', { connector: hop.connector, error: String((err as Error)?.stack ?? err) });
        got = entries.map((e) => e.item.recipients.map((r): RecipientOutcome => ({ index: r.index, outcome: 'deferred', reply: `451 4.3.0 connector ${hop.connector} failed` })));
      }
    }
    const flat = got.flat();
    const unreachable = flat.length > 0 && flat.every((o) => o.outcome === 'deferred' && o.hopDown === true);
    const firstError = flat.find((o) => o.outcome === 'deferred')?.reply;
    if (this.#o.links.record(key, !unreachable, now, unreachable ? firstError : undefined)) {
      this.#o.log('warn', 'queue.link-down', { queue: key, error: firstError ?? '' });
    }
    entries.forEach((e, i) => {
      for (const o of got[i] ?? []) e.p.outcomes.set(o.index, o);
      // A connector that forgot a recipient has not delivered it.
      for (const r of e.item.recipients) if (!e.p.outcomes.has(r.index)) e.p.outcomes.set(r.index, { index: r.index, outcome: 'deferred', reply: `451 4.3.0 connector ${hop.connector} gave no answer` });
    });
  }

  async #record(p: Prepared, now: number): Promise<void> {
    const { envelope } = p.claim;
    const routed = p.state.routed;
    const expired = isExpired(envelope.receivedAt, now, this.#o.retry);
    const until = envelope.receivedAt + this.#o.retry.expireMs;
    const notices: { i: number; action: DsnAction; diagnostic?: string; willRetryUntil?: number }[] = p.failedNow.map((i) => ({ i, action: 'failed' as const }));
    for (const [i, o] of p.outcomes) {
      const r = routed[i]!;
      if (o.remoteMta !== undefined) r.remoteMta = o.remoteMta;
      if (o.outcome === 'delivered') {
        r.status = { state: 'delivered', at: now, reply: o.detail };
        // Reported only where NOTIFY=SUCCESS asked for it: sendReports applies NOTIFY to every notice.
        notices.push({ i, action: r.expanded ? 'expanded' : deliveredAction(r) });
      } else if (o.outcome === 'failed') {
        r.status = { state: 'failed', at: now, reply: o.reply };
        notices.push({ i, action: 'failed' });
      } else if (expired) {
        r.status = { state: 'failed', at: now, reply: `${o.reply} (gave up: in the queue since ${new Date(envelope.receivedAt).toISOString()})` };
        notices.push({ i, action: 'failed' });
      } else {
        r.status = { state: 'pending', lastReply: o.reply };
        r.firstDeferAt ??= now;
        if (!r.delayNotified && now - r.firstDeferAt >= this.#o.delayNoticeMs) notices.push({ i, action: 'delayed', willRetryUntil: until });
      }
    }
    const sent = await this.#report(envelope, p.original, p.state, notices, now, p.messageId);
    if (!sent) {
      // No report could be spooled: a failure stays pending so that it is reported on the next attempt, never silently.
      for (const n of notices) {
        const r = routed[n.i]!;
        if (n.action === 'failed' && r.status.state === 'failed') r.status = { state: 'pending', lastReply: r.status.reply };
      }
    } else for (const n of notices) if (n.action === 'delayed') routed[n.i]!.delayNotified = true;

    const attempts = p.claim.state.attempts + 1;
    const pending = routed.some((r) => r.status.state === 'pending');
    const state: DeliveryState = { ...p.state, attempts, nextAttemptAt: now + retryDelay(attempts, this.#o.retry) };
    // Logged and tracked once recorded: a DELIVER in tracking means the spool knows it too.
    const recorded = pending ? await this.#save(p.claim, state) : await this.#finish(p.claim, p.state.bodyReplaced === true);
    if (recorded) this.#logOutcome(p, now, pending ? state.nextAttemptAt : undefined);
  }

  /** Spools the reports for `notices`; false when the spool refused them. */
  async #report(envelope: Claim['envelope'], original: Uint8Array, state: Prepared['state'] | DeliveryState, notices: { i: number; action: DsnAction; diagnostic?: string; willRetryUntil?: number }[], now: number, messageId: string | undefined): Promise<boolean> {
    const routed = state.routed ?? [];
    const list: Notice[] = notices.map((n) => {
      const recipient = routed[n.i]!;
      const st = recipient.status;
      const diagnostic = n.diagnostic ?? (st.state === 'failed' ? st.reply : st.state === 'pending' ? st.lastReply : undefined);
      return { recipient, action: n.action, ...(diagnostic !== undefined ? { diagnostic } : {}), ...(n.willRetryUntil !== undefined ? { willRetryUntil: n.willRetryUntil } : {}) };
    });
    try {
      await sendReports({ ...this.#o.reports, spool: this.#o.spool, track: this.#o.track }, envelope, original, list, now, messageId);
      return true;
    } catch (err) {
      this.#o.log('error', 'dsn.not-spooled', { id: envelope.id, error: String((err as Error)?.message ?? err) });
      return false;
    }
  }

  /**
   * Routes the pending recipients again (overrides kept): a connector added, removed or changed in
   * the config since the message was categorized takes its mail from the next attempt on.
   */
  #reroute(id: string, routed: RoutedRecipient[], now: number, messageId: string | undefined): number[] {
    const failed: number[] = [];
    for (const [i, r] of routed.entries()) {
      if (r.status.state !== 'pending') continue;
      const route = this.#o.router.route(r.address, r.override);
      const before = hopKey(r);
      if (route.kind === 'unroutable') {
        r.status = { state: 'failed', at: now, reply: route.reply };
        failed.push(i);
        continue;
      }
      if (route.connector === r.connector && route.destination === r.destination) continue;
      r.connector = route.connector;
      r.destination = route.destination;
      this.#o.track({ at: now, event: 'ROUTE', queueId: id, ...(messageId !== undefined ? { messageId } : {}), recipients: [r.address], nextHop: hopKey(r), detail: { rerouted: before } });
    }
    return failed;
  }

  /**
   * Spools one copy of the message per fork group, each a new submitted message with those
   * recipients (their NOTIFY and ORCPT kept) and the original's arrival time (its expiry clock).
   * Before the parent's own record: a crash in between forks again (at-least-once), never loses.
   */
  async #spoolForks(claim: Claim, original: Uint8Array, forks: ForkGroup[], now: number, messageId: string | undefined): Promise<boolean> {
    const { envelope } = claim;
    try {
      for (const group of forks) {
        const id = this.#o.reports.newId();
        const recipients = group.map((r) => {
          const source = r.from !== undefined ? envelope.recipients[r.from] : undefined;
          return source !== undefined && source.address === r.address ? { ...source } : { address: r.address, ...(source?.notify !== undefined ? { notify: source.notify } : {}) };
        });
        await this.#o.spool.accept({ ...envelope, id, recipients }, [original]);
        this.#o.track({ at: now, event: 'FORK', queueId: envelope.id, ...(messageId !== undefined ? { messageId } : {}), sender: envelope.sender, recipients: recipients.map((r) => r.address), detail: { copy: id } });
      }
      return true;
    } catch (err) {
      this.#o.log('error', 'queue.fork-failed', { id: envelope.id, error: String((err as Error)?.message ?? err) });
      return false;
    }
  }

  async #hold(claim: Claim, state: DeliveryState, kind: 'poison' | 'quarantine', reason: string, now: number, messageId: string | undefined): Promise<void> {
    const { envelope } = claim;
    if (!(await this.#save(claim, { ...state, hold: { kind, reason, at: now }, nextAttemptAt: HELD_UNTIL }))) return;
    this.#o.track({ at: now, event: kind === 'poison' ? 'POISON' : 'QUARANTINE', queueId: envelope.id, ...(messageId !== undefined ? { messageId } : {}), sender: envelope.sender, recipients: envelope.recipients.map((r) => r.address), reply: reason });
    this.#o.log('warn', kind === 'poison' ? 'message.poisoned' : 'message.quarantined', { id: envelope.id, reason });
  }

  async #save(claim: Claim, state: DeliveryState): Promise<boolean> {
    try {
      await this.#o.spool.update(claim.lease, state);
      return true;
    } catch (err) {
      // LEASE_LOST: someone else owns it now; anything else: the lease expires and it is retried.
      const code = err instanceof SpoolError ? err.code : 'SPOOL_IO';
      this.#o.log('warn', 'queue.record-failed', { id: claim.envelope.id, result: code, error: String((err as Error)?.message ?? err) });
      return false;
    }
  }

  /** Completes the message in the spool; `hasBody`: a routing agent's body for it is in the body store, to remove. */
  async #finish(claim: Claim, hasBody: boolean): Promise<boolean> {
    try {
      await this.#o.spool.complete(claim.lease);
      if (hasBody) await this.#o.bodies.remove(claim.envelope.id).catch(() => {}); // else swept at the next start
      return true;
    } catch (err) {
      const code = err instanceof SpoolError ? err.code : 'SPOOL_IO';
      this.#o.log('warn', 'queue.record-failed', { id: claim.envelope.id, result: code, error: String((err as Error)?.message ?? err) });
      return false;
    }
  }

  /** One log line and one tracking entry per outcome of this attempt, per next hop. */
  #logOutcome(p: Prepared, now: number, retryAt: number | undefined): void {
    const { envelope } = p.claim;
    const routed = p.state.routed;
    const base = { id: envelope.id, from: envelope.sender, size: envelope.size, attempt: p.claim.state.attempts + 1 };
    const groups = new Map<string, { state: RecipientStatus['state']; hop: string; to: string[]; replies: string[] }>();
    for (const i of [...p.outcomes.keys(), ...p.failedNow]) {
      const r = routed[i]!;
      const key = `${r.status.state} ${hopKey(r)}`;
      const g = groups.get(key) ?? { state: r.status.state, hop: hopKey(r), to: [], replies: [] };
      g.to.push(r.address);
      const reply = r.status.state === 'failed' ? r.status.reply : r.status.state === 'pending' ? (r.status.lastReply ?? '') : (r.status.reply ?? '');
      g.replies.push(reply);
      groups.set(key, g);
    }
    for (const g of groups.values()) {
      const reply = [...new Set(g.replies)].join(' | ');
      const event = g.state === 'delivered' ? 'DELIVER' : g.state === 'failed' ? 'FAIL' : 'DEFER';
      this.#o.track({ at: now, event, queueId: envelope.id, ...(p.messageId !== undefined ? { messageId: p.messageId } : {}), sender: envelope.sender, recipients: g.to, nextHop: g.hop, reply });
      if (g.state === 'delivered') this.#o.log('info', 'message.delivered', { ...base, to: g.to, result: 'delivered', via: g.hop });
      else if (g.state === 'failed') this.#o.log('warn', 'message.failed', { ...base, to: g.to, result: 'failed', reply, via: g.hop });
      else this.#o.log('warn', 'message.deferred', { ...base, to: g.to, result: 'deferred', reply, via: g.hop, ...(retryAt !== undefined ? { retryAt: new Date(retryAt).toISOString() } : {}) });
    }
  }
}

/** Success to the next hop: `delivered` locally, `relayed` when handed to another MTA or system. */
function deliveredAction(r: RoutedRecipient): DsnAction {
  return r.connector === 'maildir' ? 'delivered' : 'relayed';
}

/** `message` with everything after its header section replaced by `body`. */
function withBody(message: Uint8Array, body: Uint8Array): Uint8Array {
  const { fieldsEnd, bodyStart } = headerSectionEnd(message);
  const head = message.subarray(0, fieldsEnd);
  const blank = bodyStart > fieldsEnd ? message.subarray(fieldsEnd, bodyStart) : new TextEncoder().encode('\r\n');
  return concatBytes([head, blank, body]);
}
