/** The recipients configuration checked and indexed by address key, and what one address is by itself. */
import { addressKey } from './address-key.ts';

export interface RecipientTablesOptions {
  /** Accepted domains; the first receives mail for `postmaster` of every accepted domain. */
  domains: readonly string[];
  /** Known local mailboxes; empty means every local part of an accepted domain is a mailbox. */
  mailboxes: readonly string[];
  aliases: Readonly<Record<string, readonly string[]>>;
  groups: Readonly<Record<string, readonly string[]>>;
}

/** An alias target or group member as configured, with its lookup key. */
export interface Target {
  readonly address: string;
  readonly key: string;
}

/** What an address is, looked up in the tables (aliases and groups first, then its domain). */
export type Lookup =
  | { kind: 'alias' | 'group'; key: string; targets: readonly Target[] }
  /** `postmaster` of an accepted domain (or bare): delivered to the first domain's postmaster. */
  | { kind: 'postmaster'; key: string; target: Target }
  /** A local mailbox, delivered as itself. */
  | { kind: 'mailbox'; key: string }
  /** Not in an accepted domain: routed, not resolved. */
  | { kind: 'remote'; key: string }
  | { kind: 'unknown'; key: string }
  | { kind: 'invalid' };

/** The recipients configuration is inconsistent; `issues` name the fields, one line each. */
export class RecipientConfigError extends Error {
  readonly code = 'RECIPIENTS_INVALID';
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(`invalid recipients configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'RecipientConfigError';
    this.issues = issues;
  }
}

export class RecipientTables {
  readonly #domains: ReadonlySet<string>;
  readonly #mailboxes: ReadonlySet<string>;
  readonly #expansions = new Map<string, { kind: 'alias' | 'group'; targets: readonly Target[] }>();
  readonly #postmaster: Target;

  /** Throws `RecipientConfigError` naming every bad entry. */
  constructor(opts: RecipientTablesOptions) {
    const issues: string[] = [];
    const domains = opts.domains.map((d) => d.toLowerCase());
    if (domains.length === 0) issues.push('domains: expected at least one accepted domain');
    this.#domains = new Set(domains);
    this.#postmaster = { address: `postmaster@${domains[0] ?? 'localhost'}`, key: `postmaster@${domains[0] ?? 'localhost'}` };

    const mailboxes = new Set<string>();
    opts.mailboxes.forEach((address, i) => {
      const field = `recipients.mailboxes[${i}]`;
      const key = checkAddress(address, field, issues);
      if (key === null) return;
      if (!this.#domains.has(domainOf(key))) issues.push(`${field}: ${address} is not in an accepted domain (domains: ${domains.join(', ')})`);
      mailboxes.add(key);
    });
    this.#mailboxes = mailboxes;

    const owner = new Map<string, string>();
    for (const kind of ['alias', 'group'] as const) {
      const table = kind === 'alias' ? opts.aliases : opts.groups;
      const tableField = kind === 'alias' ? 'recipients.aliases' : 'recipients.groups';
      for (const [address, list] of Object.entries(table)) {
        const field = `${tableField}[${JSON.stringify(address)}]`;
        const key = checkAddress(address, field, issues);
        const targets: Target[] = [];
        list.forEach((target, j) => {
          const targetKey = checkAddress(target, `${field}[${j}]`, issues);
          if (targetKey !== null) targets.push({ address: target, key: targetKey });
        });
        if (list.length === 0) issues.push(`${field}: expected at least one ${kind === 'alias' ? 'target' : 'member'}`);
        if (key === null) continue;
        const earlier = owner.get(key);
        if (earlier !== undefined) {
          issues.push(`${field}: ${address} is already defined as ${earlier} (addresses compare case-insensitively)`);
          continue;
        }
        owner.set(key, field);
        this.#expansions.set(key, { kind, targets });
      }
    }
    if (issues.length > 0) throw new RecipientConfigError(issues);
  }

  /** Where `postmaster` of every accepted domain goes unless the tables say otherwise. */
  get postmaster(): Target {
    return this.#postmaster;
  }

  isLocalDomain(domain: string): boolean {
    return this.#domains.has(domain.toLowerCase());
  }

  /**
   * What `address` is. Aliases and groups apply to any address with an entry (like Postfix's
   * virtual aliases); an explicit mailbox entry beats the postmaster rule; with no mailboxes listed
   * every other local part of an accepted domain is a mailbox.
   */
  lookup(address: string): Lookup {
    const key = addressKey(address);
    if (key === null) {
      // RFC 5321 §4.5.1: `RCPT TO:<postmaster>` without a domain must be accepted.
      return address.toLowerCase() === 'postmaster' ? { kind: 'postmaster', key: 'postmaster', target: this.#postmaster } : { kind: 'invalid' };
    }
    const expansion = this.#expansions.get(key);
    if (expansion !== undefined) return { kind: expansion.kind, key, targets: expansion.targets };
    if (!this.#domains.has(domainOf(key))) return { kind: 'remote', key };
    const local = this.#deliverableLocal(key);
    if (local === 'postmaster') return { kind: 'postmaster', key, target: this.#postmaster };
    return { kind: local ?? 'unknown', key };
  }

  /** Whether a local `key` has a mailbox of its own, whatever aliases or groups say about it. */
  hasMailbox(key: string): boolean {
    return this.#domains.has(domainOf(key)) && this.#deliverableLocal(key) === 'mailbox';
  }

  #deliverableLocal(key: string): 'mailbox' | 'postmaster' | null {
    if (this.#mailboxes.has(key) || key === this.#postmaster.key) return 'mailbox';
    if (key.slice(0, key.lastIndexOf('@')) === 'postmaster') return 'postmaster';
    return this.#mailboxes.size === 0 ? 'mailbox' : null;
  }
}

function domainOf(key: string): string {
  return key.slice(key.lastIndexOf('@') + 1);
}

function checkAddress(address: string, field: string, issues: string[]): string | null {
  const key = addressKey(address);
  if (key === null || /\s/.test(address)) {
    issues.push(`${field}: expected an address local@domain (got ${JSON.stringify(address)})`);
    return null;
  }
  return key;
}
