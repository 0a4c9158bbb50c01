/**
 * The router: one next hop per recipient, like Exchange's send connectors. Accepted domains go to
 * the local Maildir; other domains go to the configured connector whose address space matches
 * most specifically (`example.com` beats `*.example.com` beats `*`; then the lower priority, then
 * the earlier in the config). With no match, the implicit `direct` connector delivers by MX.
 * A routing agent's override names a connector or a host and wins over the domain.
 */
import type { ConnectorConfig } from '../config/schema.ts';
import type { NextHop } from '../delivery/connector.ts';
import { splitAddress } from './address-key.ts';

/** The connector that delivers by MX when nothing else matches, and that takes overrides naming a host. */
export const DIRECT_CONNECTOR: ConnectorConfig = {
  type: 'smtp',
  name: 'direct',
  addressSpaces: ['*'],
  priority: 1_000_000,
  maxConnections: 4,
  port: 25,
  tls: 'opportunistic',
};

export type Route = ({ kind: 'hop' } & NextHop) | { kind: 'unroutable'; reply: string };

export interface RouterOptions {
  /** Accepted domains, lowercase; the first is where a bare `postmaster` goes. */
  domains: readonly string[];
  connectors: readonly ConnectorConfig[];
}

/** `a.b.example.com` → how specifically `space` matches it: -1 no match, 0 `*`, else the matched suffix length (+1 for exact). */
function specificity(space: string, domain: string): number {
  if (space === '*') return 0;
  if (space.startsWith('*.')) return domain.endsWith(space.slice(1)) ? space.length - 1 : -1;
  return space === domain ? space.length + 1 : -1;
}

/** A host as a routing override may name it: `[192.0.2.1]`, `[IPv6:…]`, `mx.example.com`, each with an optional `:port`. */
const HOST_OVERRIDE = /^(\[[0-9A-Fa-f:.]+\]|\[IPv6:[0-9A-Fa-f:.]+\]|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)(:\d{1,5})?$/;

export class Router {
  readonly #local: Set<string>;
  readonly #primary: string;
  readonly #connectors: readonly ConnectorConfig[];
  readonly #byName: Map<string, ConnectorConfig>;

  constructor(opts: RouterOptions) {
    this.#local = new Set(opts.domains.map((d) => d.toLowerCase()));
    this.#primary = opts.domains[0] ?? 'localhost';
    this.#connectors = opts.connectors;
    this.#byName = new Map(opts.connectors.map((c) => [c.name, c]));
    if (!this.#byName.has(DIRECT_CONNECTOR.name)) this.#byName.set(DIRECT_CONNECTOR.name, DIRECT_CONNECTOR);
  }

  /** Every connector a route may name, the implicit `direct` one included. */
  connectors(): ConnectorConfig[] {
    return [...this.#byName.values()];
  }

  isLocal(domain: string): boolean {
    return this.#local.has(domain.toLowerCase());
  }

  route(address: string, override?: string): Route {
    const { domain } = splitAddress(address);
    const d = domain === null ? this.#primary : domain.toLowerCase().replace(/^\[|\]$/g, '');
    if (override !== undefined) return this.#override(d, override);
    if (this.#local.has(d)) return { kind: 'hop', connector: 'maildir', destination: d };
    let best: ConnectorConfig | undefined;
    let bestScore = -1;
    for (const c of this.#connectors) {
      const score = Math.max(...c.addressSpaces.map((s) => specificity(s, d)));
      if (score > bestScore || (score === bestScore && score >= 0 && best !== undefined && c.priority < best.priority)) {
        best = c;
        bestScore = score;
      }
    }
    return this.#hopVia(best ?? this.#byName.get(DIRECT_CONNECTOR.name)!, d);
  }

  #hopVia(c: ConnectorConfig, domain: string): Route {
    if (c.type === 'smtp' && c.smartHosts !== undefined) return { kind: 'hop', connector: c.name, destination: c.smartHosts.join(',') };
    return { kind: 'hop', connector: c.name, destination: domain };
  }

  #override(domain: string, target: string): Route {
    if (target === 'maildir') {
      return this.#local.has(domain) ? { kind: 'hop', connector: 'maildir', destination: domain } : { kind: 'unroutable', reply: `550 5.4.4 routing override to maildir for a domain that is not local (${domain})` };
    }
    const named = this.#byName.get(target);
    if (named !== undefined) return this.#hopVia(named, domain);
    if (HOST_OVERRIDE.test(target)) return { kind: 'hop', connector: DIRECT_CONNECTOR.name, destination: target.toLowerCase() };
    return { kind: 'unroutable', reply: `550 5.4.4 routing override names no connector or host: ${target}` };
  }
}
