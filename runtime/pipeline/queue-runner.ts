/**
 * Moves messages from the spool to their connectors: claim a batch (leased), route each pending
 * recipient, deliver per connector, then record the outcome durably — complete when every recipient
 * is final, otherwise update with the next attempt time. A crash between delivery and the update
 * redelivers (at-least-once); a recipient recorded as delivered is never delivered again.
 */
import type { Claim, DeliveryState, RecipientStatus, SpoolStore } from '../spool/store.ts';
import { SpoolError } from '../spool/spool-error.ts';
import type { Connector, ConnectorItem, RecipientOutcome } from '../delivery/connector.ts';
import type { Router } from './router.ts';
import { DEFAULT_RETRY, isExpired, retryDelay, type RetryPolicy } from './retry-schedule.ts';
import type { LogFn } from '../log/logger.ts';

export interface QueueRunnerOptions {
  spool: SpoolStore;
  router: Router;
  connectors: readonly Connector[];
  log: LogFn;
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
}

export class QueueRunner {
  readonly #o: Required<Omit<QueueRunnerOptions, 'connectors'>>;
  readonly #connectors = new Map<string, Connector>();
  #active = 0;
  #again = false;
  #stopped = false;
  #poll: ReturnType<typeof setInterval> | undefined;
  #gathering: ReturnType<typeof setTimeout> | undefined;
  #unsubscribe: (() => void) | undefined;
  #idle: (() => void)[] = [];

  constructor(opts: QueueRunnerOptions) {
    this.#o = {
      now: Date.now,
      batchSize: 64,
      workers: 2,
      leaseMs: 5 * 60_000,
      pollMs: 1000,
      gatherMs: 10,
      retry: DEFAULT_RETRY,
      ...opts,
    };
    for (const c of opts.connectors) this.#connectors.set(c.name, c);
  }

  start(): void {
    this.#unsubscribe = this.#o.spool.subscribe(() => this.#gather());
    this.#poll = setInterval(() => this.kick(), this.#o.pollMs);
    this.#poll.unref?.();
    this.kick();
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
  }

  async #work(): Promise<void> {
    for (;;) {
      if (this.#stopped) return;
      let claims: Claim[];
      try {
        claims = await this.#o.spool.claim(this.#o.now(), this.#o.batchSize, this.#o.leaseMs);
      } catch (err) {
        this.#o.log('error', 'queue.claim-failed', { error: String((err as Error)?.message ?? err) });
        return;
      }
      if (claims.length === 0) return;
      await this.#deliverBatch(claims);
    }
  }

  async #deliverBatch(claims: Claim[]): Promise<void> {
    const now = this.#o.now();
    // Per message: pending recipients routed; per connector: the items it must take.
    const outcomes = new Map<Claim, RecipientOutcome[]>();
    const perConnector = new Map<string, { claim: Claim; item: ConnectorItem }[]>();
    await Promise.all(
      claims.map(async (claim) => {
        const results: RecipientOutcome[] = [];
        outcomes.set(claim, results);
        let message: Uint8Array | undefined;
        const routed = new Map<string, ConnectorItem['recipients']>();
        claim.envelope.recipients.forEach((r, index) => {
          if (claim.state.recipients[index]?.state !== 'pending') return;
          const route = this.#o.router.route(r.address);
          if (route.kind === 'unroutable') return void results.push({ index, outcome: 'failed', reply: route.reply });
          const list = routed.get(route.connector) ?? [];
          list.push({ index, address: r.address, domain: route.domain, localPart: route.localPart });
          routed.set(route.connector, list);
        });
        if (routed.size === 0) return;
        try {
          message = await this.#o.spool.read(claim.envelope.id);
        } catch (err) {
          for (const list of routed.values()) for (const r of list) results.push({ index: r.index, outcome: 'deferred', reply: `451 4.3.0 spool read failed: ${(err as Error).message}` });
          return;
        }
        for (const [name, recipients] of routed) {
          const batch = perConnector.get(name) ?? [];
          batch.push({ claim, item: { envelope: claim.envelope, message, recipients } });
          perConnector.set(name, batch);
        }
      }),
    );
    await Promise.all(
      [...perConnector].map(async ([name, entries]) => {
        const connector = this.#connectors.get(name);
        const got = connector
          ? await connector.deliver({ connector: name, destination: "" }, entries.map((e) => e.item))
          : entries.map((e) => e.item.recipients.map((r): RecipientOutcome => ({ index: r.index, outcome: 'deferred', reply: `451 4.4.0 connector ${name} is not available` })));
        entries.forEach((e, i) => outcomes.get(e.claim)?.push(...(got[i] ?? [])));
      }),
    );
    await Promise.all(claims.map((claim) => this.#record(claim, outcomes.get(claim) ?? [], now)));
  }

  async #record(claim: Claim, results: RecipientOutcome[], now: number): Promise<void> {
    const { envelope } = claim;
    const recipients: RecipientStatus[] = claim.state.recipients.map((s) => ({ ...s }));
    const expired = isExpired(envelope.receivedAt, now, this.#o.retry);
    for (const r of results) {
      if (r.outcome === 'delivered') recipients[r.index] = { state: 'delivered', at: now, reply: r.detail };
      else if (r.outcome === 'failed') recipients[r.index] = { state: 'failed', at: now, reply: r.reply };
      else if (expired) recipients[r.index] = { state: 'failed', at: now, reply: `${r.reply} (gave up: in the queue since ${new Date(envelope.receivedAt).toISOString()})` };
      else recipients[r.index] = { state: 'pending', lastReply: r.reply };
    }
    const attempts = claim.state.attempts + 1;
    const pending = recipients.some((s) => s.state === 'pending');
    const state: DeliveryState = { attempts, nextAttemptAt: now + retryDelay(attempts, this.#o.retry), recipients };
    this.#logOutcome(claim, results, recipients, pending ? state.nextAttemptAt : undefined);
    try {
      if (pending) await this.#o.spool.update(claim.lease, state);
      else await this.#o.spool.complete(claim.lease);
    } catch (err) {
      // LEASE_LOST: someone else owns it now; anything else: the lease expires and it is retried.
      const code = err instanceof SpoolError ? err.code : 'SPOOL_IO';
      this.#o.log('warn', 'queue.record-failed', { id: envelope.id, result: code, error: String((err as Error)?.message ?? err) });
    }
  }

  /** One line per outcome of this attempt, judged by the recorded state (an expired deferral is a failure). */
  #logOutcome(claim: Claim, results: RecipientOutcome[], recipients: RecipientStatus[], retryAt: number | undefined): void {
    const { envelope } = claim;
    const groups = { delivered: [] as number[], pending: [] as number[], failed: [] as number[] };
    for (const r of results) groups[recipients[r.index]!.state].push(r.index);
    const addr = (i: number): string => envelope.recipients[i]?.address ?? '?';
    const reply = (i: number): string => {
      const st = recipients[i]!;
      return st.state === 'failed' ? st.reply : st.state === 'pending' ? (st.lastReply ?? '') : '';
    };
    const base = { id: envelope.id, from: envelope.sender, size: envelope.size, attempt: claim.state.attempts + 1 };
    if (groups.delivered.length) this.#o.log('info', 'message.delivered', { ...base, to: groups.delivered.map(addr), result: 'delivered' });
    if (groups.pending.length) {
      this.#o.log('warn', 'message.deferred', {
        ...base,
        to: groups.pending.map(addr),
        result: 'deferred',
        reply: groups.pending.map(reply).join(' | '),
        ...(retryAt !== undefined ? { retryAt: new Date(retryAt).toISOString() } : {}),
      });
    }
    if (groups.failed.length) {
      this.#o.log('warn', 'message.failed', { ...base, to: groups.failed.map(addr), result: 'failed', reply: groups.failed.map(reply).join(' | ') });
    }
  }
}
