/**
 * The categorizer (Exchange's name): turns a submitted message into routed recipients. Events in
 * order — onSubmittedMessage, recipient resolution, onResolvedMessage, routing, onRoutedMessage,
 * onCategorizedMessage — with routing agents' recipient edits, overrides and header edits applied
 * between them. Pure apart from the agents: the caller commits the result durably (one committed
 * stage), so a crash or a `defer` re-runs categorization from the submitted message.
 */
import type { HeaderField, MessageSnapshot } from '../../sdk/event-payloads.ts';
import type { HeaderEdit, RecipientEdit } from '../../sdk/verdict-schema.ts';
import { isProtectedEdit, parseHeaders } from '../message/headers.ts';
import type { RecipientResolver } from '../routing/recipient-resolver.ts';
import type { Router } from '../routing/router.ts';
import type { ChainResult } from '../sandbox/protocol.ts';
import type { Envelope } from '../spool/envelope.ts';
import type { DeliveryState, RoutedRecipient } from '../spool/store.ts';
import type { TrackingEntry } from '../tracking/index.ts';
import type { RoutingChain, RoutingEventName } from './routing-chain.ts';

/** Recipients a routing agent split off into a copy of their own; `from` indexes the envelope recipients. */
export type ForkGroup = { address: string; from?: number }[];

export type Categorized =
  | { kind: 'routed'; routed: RoutedRecipient[]; headerEdits: HeaderEdit[]; forks: ForkGroup[]; body?: Uint8Array }
  /** Try categorization again: after `delayMs`, or by the retry schedule when absent (an agent failed). */
  | { kind: 'defer'; delayMs?: number; reason: string; crashed: boolean }
  | { kind: 'delete'; reason: string; agent: string | null }
  | { kind: 'quarantine'; reason: string; agent: string | null };

export interface CategorizerDeps {
  resolver: RecipientResolver;
  router: Router;
  agents: RoutingChain;
  track: (entry: TrackingEntry) => void;
  log: (level: 'debug' | 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown>) => void;
}

/** A recipient while categorization works on it. */
interface Working {
  address: string;
  /** Already looked up in the recipient tables. */
  resolved?: boolean;
  from?: number;
  override?: string;
  expanded?: boolean;
  /** Resolution or routing refused it for good. */
  failed?: string;
  connector?: string;
  destination?: string;
}

const lower = (s: string): string => s.toLowerCase();

export class Categorizer {
  readonly #d: CategorizerDeps;

  constructor(deps: CategorizerDeps) {
    this.#d = deps;
  }

  async categorize(envelope: Envelope, state: DeliveryState, message: Uint8Array, now: number): Promise<Categorized> {
    const headers = parseHeaders(message);
    const messageId = messageIdOf(headers);
    const base = { queueId: envelope.id, ...(messageId !== undefined ? { messageId } : {}), sender: envelope.sender };
    const headerEdits: HeaderEdit[] = [];
    const forks: ForkGroup[] = [];
    let newBody: string | undefined;
    const body = (): string => Buffer.from(message).toString('base64');

    // Envelope recipients still to be delivered (those final in an older state stay as they are).
    let work: Working[] = [];
    envelope.recipients.forEach((r, index) => {
      if (state.recipients[index]?.state === 'pending') work.push({ address: r.address, from: index });
    });

    const ask = async (event: RoutingEventName): Promise<Categorized | null> => {
      const snapshot: MessageSnapshot = {
        id: envelope.id,
        receivedAt: envelope.receivedAt,
        envelope: {
          sender: envelope.sender,
          recipients: envelope.recipients.map((r) => r.address),
          mailParams: { size: envelope.size, body: envelope.bodyType, smtputf8: envelope.smtputf8, ...(envelope.ret ? { ret: envelope.ret } : {}), ...(envelope.envid !== undefined ? { envid: envelope.envid } : {}) },
        },
        recipients: work.map((w) => ({
          address: w.address,
          status: w.failed !== undefined ? 'failed' : 'pending',
          ...(w.connector !== undefined ? { nextHop: `${w.connector}:${w.destination}` } : {}),
        })),
        headers: applyEditsToFields(headers, headerEdits),
        size: envelope.size,
      };
      const result = await this.#d.agents.run(event, snapshot, body);
      if (result === null) return null;
      this.#trackAgents(base, event, result, now);
      const v = result.verdict;
      switch (v.verdict) {
        case 'continue':
          if (result.headers) headerEdits.push(...this.#allowed(envelope.id, result.headers));
          if (result.recipients) work = this.#applyRecipientEdits(work, result.recipients, event, forks);
          if (result.body !== undefined) newBody = result.body;
          return null;
        case 'defer':
          return { kind: 'defer', delayMs: v.delayMs, reason: v.reason, crashed: false };
        case 'delete':
          return { kind: 'delete', reason: v.reason, agent: agentName(result.decidedBy) };
        case 'quarantine':
          return { kind: 'quarantine', reason: v.reason, agent: agentName(result.decidedBy) };
        default: {
          // tempfail: an agent failed under the closed policy (or answered a kind it may not).
          const crashed = result.steps.some((s) => s.outcome === 'crash');
          const step = result.steps.at(-1);
          return { kind: 'defer', reason: `${event}: ${agentName(result.decidedBy) ?? 'agent'} ${step?.outcome ?? 'failed'}${step?.error ? `: ${step.error}` : ''}`, crashed };
        }
      }
    };

    const submitted = await ask('onSubmittedMessage');
    if (submitted) return submitted;
    work = this.#resolve(work, base, now);
    const resolved = await ask('onResolvedMessage');
    if (resolved) return resolved;
    this.#route(work, base, now);
    const routed = await ask('onRoutedMessage');
    if (routed) return routed;
    // Recipients added or overridden at onRoutedMessage are resolved and routed before the last event.
    work = this.#resolve(work, base, now);
    this.#route(work, base, now);
    const categorized = await ask('onCategorizedMessage');
    if (categorized) return categorized;
    work = this.#resolve(work, base, now);
    this.#route(work, base, now);

    return {
      kind: 'routed',
      headerEdits,
      forks,
      ...(newBody !== undefined ? { body: crlf(Buffer.from(newBody, 'base64')) } : {}),
      routed: work.map((w): RoutedRecipient => {
        const r: RoutedRecipient = {
          address: w.address,
          connector: w.connector ?? '',
          destination: w.destination ?? '',
          status: w.failed !== undefined ? { state: 'failed', at: now, reply: w.failed } : { state: 'pending' },
        };
        if (w.from !== undefined) r.from = w.from;
        if (w.expanded) r.expanded = true;
        if (w.override !== undefined) r.override = w.override;
        return r;
      }),
    };
  }

  /** Resolves every recipient not resolved yet (aliases, groups, unknown mailboxes); duplicates collapse, the first kept. */
  #resolve(work: Working[], base: Pick<TrackingEntry, 'queueId' | 'sender' | 'messageId'>, now: number): Working[] {
    const out: Working[] = [];
    const seen = new Set<string>();
    const keep = (w: Working): void => {
      if (seen.has(lower(w.address))) return;
      seen.add(lower(w.address));
      out.push(w);
    };
    for (const w of work) {
      // Resolved before, refused, or routed by an agent's override: as it is.
      if (w.resolved || w.failed !== undefined || w.override !== undefined) {
        keep(w);
        continue;
      }
      const res = this.#d.resolver.resolve(w.address);
      if (!res.ok) {
        keep({ ...w, resolved: true, failed: res.reply });
        this.#d.track({ at: now, event: 'RESOLVE', ...base, recipients: [w.address], reply: res.reply });
        continue;
      }
      const finals = res.recipients.map((r) => r.address);
      if (finals.length !== 1 || finals[0] !== w.address) {
        this.#d.track({ at: now, event: res.expandedGroup ? 'EXPAND' : 'RESOLVE', ...base, recipients: finals, detail: { original: w.address } });
      }
      for (const r of res.recipients) {
        const next: Working = { address: r.address, resolved: true };
        if (w.from !== undefined) next.from = w.from;
        if (res.expandedGroup || w.expanded) next.expanded = true;
        keep(next);
      }
    }
    return out;
  }

  #route(work: Working[], base: Pick<TrackingEntry, 'queueId' | 'sender' | 'messageId'>, now: number): void {
    for (const w of work) {
      if (w.failed !== undefined) continue;
      const route = this.#d.router.route(w.address, w.override);
      if (route.kind === 'unroutable') {
        w.failed = route.reply;
        delete w.connector;
        delete w.destination;
        this.#d.track({ at: now, event: 'ROUTE', ...base, recipients: [w.address], reply: route.reply });
        continue;
      }
      if (w.connector === route.connector && w.destination === route.destination) continue;
      w.connector = route.connector;
      w.destination = route.destination;
      this.#d.track({ at: now, event: 'ROUTE', ...base, recipients: [w.address], nextHop: `${route.connector}:${route.destination}`, ...(w.override !== undefined ? { detail: { override: w.override } } : {}) });
    }
  }

  #applyRecipientEdits(work: Working[], edits: readonly RecipientEdit[], event: RoutingEventName, forks: ForkGroup[]): Working[] {
    let out = work;
    for (const edit of edits) {
      if (edit.op === 'fork') {
        const wanted = new Set(edit.addresses.map(lower));
        const group = out.filter((w) => wanted.has(lower(w.address)) && w.failed === undefined);
        // Forking every recipient would only make the same message again (and again): nothing to split.
        if (group.length === 0 || group.length === out.filter((w) => w.failed === undefined).length) continue;
        // The copy is categorized again from the start: it takes the recipients as they are now, not their routes.
        forks.push(group.map((w) => (w.from !== undefined ? { address: w.address, from: w.from } : { address: w.address })));
        out = out.filter((w) => !group.includes(w));
      } else if (edit.op === 'add') {
        if (!out.some((w) => lower(w.address) === lower(edit.address))) out = [...out, { address: edit.address }];
      } else if (edit.op === 'rewrite') {
        const at = out.findIndex((w) => lower(w.address) === lower(edit.address));
        if (at === -1) {
          this.#d.log('warn', 'agent.rewrite.unknown-recipient', { event, recipient: edit.address });
          continue;
        }
        // A new address: resolved and routed afresh, still answering for the envelope recipient it came from.
        const was = out[at]!;
        const next: Working = { address: edit.to };
        if (was.from !== undefined) next.from = was.from;
        out = out.filter((w, i) => i !== at && lower(w.address) !== lower(edit.to));
        out.splice(Math.min(at, out.length), 0, next);
      } else if (edit.op === 'remove') {
        out = out.filter((w) => lower(w.address) !== lower(edit.address));
      } else {
        const target = out.find((w) => lower(w.address) === lower(edit.address));
        if (target === undefined) {
          this.#d.log('warn', 'agent.override.unknown-recipient', { event, recipient: edit.address, route: edit.route });
          continue;
        }
        target.override = edit.route;
        delete target.connector;
        delete target.destination;
        delete target.failed;
      }
    }
    return out;
  }

  #allowed(id: string, edits: readonly HeaderEdit[]): HeaderEdit[] {
    const allowed = edits.filter((e) => !isProtectedEdit(e));
    if (allowed.length !== edits.length) this.#d.log('warn', 'agent.header-edit.refused', { id, refused: edits.filter(isProtectedEdit).map((e) => `${e.op} ${e.name}`) });
    return allowed;
  }

  #trackAgents(base: Pick<TrackingEntry, 'queueId' | 'sender' | 'messageId'>, event: RoutingEventName, result: ChainResult, now: number): void {
    for (const step of result.steps) {
      const decided = result.decidedBy === step.agentId;
      this.#d.track({
        at: now,
        event: 'AGENT',
        ...base,
        agent: agentName(step.agentId)!,
        agentEvent: event,
        verdict: step.outcome !== 'ok' ? step.outcome : decided ? result.verdict.verdict : 'continue',
        ms: step.ms,
        ...(step.error !== undefined ? { reply: step.error } : {}),
      });
    }
  }
}

/** The Message-ID header's value without angle brackets. */
export function messageIdOf(headers: readonly HeaderField[]): string | undefined {
  const field = headers.find((h) => h.name.toLowerCase() === 'message-id');
  const m = field?.value.match(/<([^<>]+)>/);
  return m?.[1] ?? (field?.value.trim() || undefined);
}

/** The header fields as a later agent sees them, after earlier agents' edits. */
function applyEditsToFields(fields: readonly HeaderField[], edits: readonly HeaderEdit[]): HeaderField[] {
  let out = [...fields];
  for (const e of edits) {
    if (e.op === 'add') out = [...out, { name: e.name, value: e.value }];
    else if (e.op === 'remove') out = out.filter((f) => lower(f.name) !== lower(e.name));
    else {
      const at = out.findIndex((f) => lower(f.name) === lower(e.name));
      out = out.filter((f) => lower(f.name) !== lower(e.name));
      out.splice(at < 0 ? out.length : at, 0, { name: e.name, value: e.value });
    }
  }
  return out;
}

/** `vendor/agent` from a sandbox id `vendor/agent.<generation>`. */
function agentName<T extends string | null>(runId: T): T {
  return (runId === null ? null : runId.replace(/\.\d+$/, '')) as T;
}

/** Line ends as SMTP wants them: a bare LF or CR in an agent's body becomes CRLF. */
function crlf(bytes: Uint8Array): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1');
  return new Uint8Array(Buffer.from(text.replace(/\r\n|\r|\n/g, '\r\n'), 'latin1'));
}
