/**
 * Recipient resolution for the categorizer: expands one envelope recipient through aliases and
 * distribution groups into final addresses (local mailboxes or remote addresses), breaking loops.
 *
 * Lookups are case-insensitive in the domain and, like Postfix, in the local part too; a final
 * address keeps the spelling it was written with (the envelope's, or the configuration's).
 */
import { RecipientConfigError, RecipientTables, type Lookup, type RecipientTablesOptions } from './recipient-tables.ts';

export { RecipientConfigError } from './recipient-tables.ts';

export interface ResolvedRecipient {
  /** Final address: a local mailbox or a remote address. */
  address: string;
  /** In an accepted domain. */
  local: boolean;
  /** The chain of aliases/groups that led here, outermost first (empty when the original was final). */
  via: string[];
}

/** An address an alias or group led to that has no mailbox here: skipped, the rest is delivered. */
export interface DroppedRecipient {
  address: string;
  via: string[];
  reply: string;
}

export type Resolution =
  | {
      ok: true;
      recipients: ResolvedRecipient[];
      /** A distribution group was expanded (DSN action `expanded` for SUCCESS notify). */
      expandedGroup: boolean;
      /** Unknown or malformed addresses met inside the expansion; absent when there were none. */
      dropped?: DroppedRecipient[];
    }
  | { ok: false; reply: string; permanent: true };

export interface RecipientResolverOptions extends RecipientTablesOptions {
  /** Most final addresses one recipient may expand to (default 1000). */
  maxExpansion?: number;
}

const DEFAULT_MAX_EXPANSION = 1000;

/** The path from the original recipient down to a node, innermost last; shared between siblings. */
interface Via {
  readonly address: string;
  readonly outer: Via | null;
}

type Step =
  /** Look the address up and deliver or expand it. */
  | { op: 'visit'; address: string; via: Via | null }
  /** An alias or group named itself and has a mailbox of its own: deliver there, do not expand. */
  | { op: 'deliver'; address: string; key: string; via: Via | null }
  /** The expansion of `key` is complete: it is no longer on the current path. */
  | { op: 'leave'; key: string };

export class RecipientResolver {
  readonly #tables: RecipientTables;
  readonly #max: number;

  /** Throws `RecipientConfigError` when the configuration is inconsistent (each bad field named). */
  constructor(opts: RecipientResolverOptions) {
    const max = opts.maxExpansion ?? DEFAULT_MAX_EXPANSION;
    if (!Number.isInteger(max) || max < 1) throw new RecipientConfigError([`maxExpansion: expected a positive integer (got ${max})`]);
    this.#tables = new RecipientTables(opts);
    this.#max = max;
  }

  /** Resolves one envelope recipient. */
  resolve(address: string): Resolution {
    const top = this.#tables.lookup(address);
    if (top.kind === 'invalid') return fail(`550 5.1.3 <${address}>: bad recipient address syntax`);
    if (top.kind === 'unknown') return fail(unknownReply(address));

    const recipients: ResolvedRecipient[] = [];
    const dropped: DroppedRecipient[] = [];
    const delivered = new Set<string>();
    /** Addresses whose expansion has started: each is expanded once per resolution. */
    const expanded = new Set<string>();
    /** Addresses being expanded now, from the original down: meeting one again is a loop. */
    const onPath = new Set<string>();
    let loop = false;
    let expandedGroup = false;

    const stack: Step[] = [{ op: 'visit', address, via: null }];
    const deliver = (final: string, key: string, local: boolean, via: Via | null): boolean => {
      if (delivered.has(key)) return true; // a duplicate: the first occurrence wins
      delivered.add(key);
      recipients.push({ address: final, local, via: viaList(via) });
      return recipients.length <= this.#max;
    };

    for (let step = stack.pop(); step !== undefined; step = stack.pop()) {
      if (step.op === 'leave') {
        onPath.delete(step.key);
        continue;
      }
      if (step.op === 'deliver') {
        if (!deliver(step.address, step.key, true, step.via)) return fail(tooManyReply(address, this.#max));
        continue;
      }
      const found: Lookup = step.address === address ? top : this.#tables.lookup(step.address);
      switch (found.kind) {
        case 'invalid': // configured targets are checked up front; kept for exhaustiveness
        case 'unknown':
          dropped.push({ address: step.address, via: viaList(step.via), reply: unknownReply(step.address) });
          continue;
        case 'mailbox':
        case 'remote':
          if (!deliver(step.address, found.key, found.kind === 'mailbox', step.via)) return fail(tooManyReply(address, this.#max));
          continue;
      }
      // An alias, a group, or postmaster of another domain: expand it once.
      if (expanded.has(found.key)) {
        if (onPath.has(found.key)) loop = true;
        continue;
      }
      expanded.add(found.key);
      onPath.add(found.key);
      if (found.kind === 'group') expandedGroup = true;
      const via: Via = { address: step.address, outer: step.via };
      const targets = found.kind === 'postmaster' ? [found.target] : found.targets;
      stack.push({ op: 'leave', key: found.key });
      for (let i = targets.length - 1; i >= 0; i--) {
        const target = targets[i]!;
        if (target.key === found.key && this.#tables.hasMailbox(found.key)) {
          // `a → a, b` keeps a copy in a's own mailbox (Postfix's self-reference), under a's spelling.
          stack.push({ op: 'deliver', address: step.address, key: found.key, via: step.via });
        } else {
          stack.push({ op: 'visit', address: target.address, via });
        }
      }
    }

    if (recipients.length === 0) {
      // Nothing delivered and nothing unknown: every path ended where it started.
      if (loop || dropped.length === 0) return fail(`550 5.4.6 routing loop detected for <${address}>`);
      const unknown = dropped.slice(0, 3).map((d) => `<${d.address}>`);
      const more = dropped.length > 3 ? ` and ${dropped.length - 3} more` : '';
      return fail(`550 5.1.1 <${address}>: expands only to unknown addresses: ${unknown.join(', ')}${more}`);
    }
    return dropped.length > 0 ? { ok: true, recipients, expandedGroup, dropped } : { ok: true, recipients, expandedGroup };
  }

  /** For RCPT time: would `resolve` find this local address? (true for non-local domains: they are routed, not resolved). */
  isKnown(address: string): boolean {
    const kind = this.#tables.lookup(address).kind;
    return kind !== 'unknown' && kind !== 'invalid';
  }
}

function fail(reply: string): Resolution {
  return { ok: false, reply, permanent: true };
}

function unknownReply(address: string): string {
  return `550 5.1.1 <${address}>: no such mailbox here`;
}

function tooManyReply(address: string, max: number): string {
  return `550 5.3.4 <${address}>: expands to more than ${max} addresses`;
}

function viaList(via: Via | null): string[] {
  const out: string[] = [];
  for (let v = via; v !== null; v = v.outer) out.push(v.address);
  return out.reverse();
}
