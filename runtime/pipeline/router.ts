/** Decides the next hop for each recipient. Today: local Maildir for accepted domains; nothing else is routable yet. */

export type Route =
  | { kind: 'connector'; connector: string; domain: string; localPart: string }
  | { kind: 'unroutable'; reply: string };

export interface RouterOptions {
  /** Accepted domains, lowercase; the first is where a bare `postmaster` goes. */
  domains: readonly string[];
}

/** Splits at the last `@` (a quoted local part may contain `@`). */
export function splitAddress(address: string): { localPart: string; domain: string | null } {
  const at = address.lastIndexOf('@');
  return at === -1 ? { localPart: address, domain: null } : { localPart: address.slice(0, at), domain: address.slice(at + 1) };
}

export class Router {
  readonly #domains: Set<string>;
  readonly #primary: string;

  constructor(opts: RouterOptions) {
    this.#domains = new Set(opts.domains.map((d) => d.toLowerCase()));
    this.#primary = opts.domains[0] ?? 'localhost';
  }

  route(address: string): Route {
    const { localPart, domain } = splitAddress(address);
    const d = domain === null ? this.#primary : domain.toLowerCase();
    if (this.#domains.has(d)) return { kind: 'connector', connector: 'maildir', domain: d, localPart };
    return { kind: 'unroutable', reply: `550 5.4.4 no route to ${d}: outbound delivery is not configured` };
  }
}
