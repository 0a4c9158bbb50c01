/**
 * Where outbound mail for a domain goes (RFC 5321 §5.1): MX records by preference, each MX host's
 * A and AAAA addresses; the domain itself when it has no MX; RFC 7505 null MX; DNS failures as
 * temporary or permanent SMTP replies.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { queryRcode } from './dns-rcode.ts';
import { parseNextHop } from './next-hop-address.ts';

export interface MxHost {
  /** The MX host name (the domain itself for an implicit MX, the address for a literal). */
  host: string;
  address: string;
  port: number;
  preference: number;
}

export type MxResolution = { ok: true; hosts: MxHost[] } | { ok: false; reply: string; permanent: boolean };

export interface MxResolverOptions {
  /** `ip`, `ip:port` or `[v6]:port` (config `routing.dnsServers`); the system's resolvers when absent. */
  servers?: readonly string[];
  /** Per query; default 5 s. */
  timeoutMs?: number;
  /** How long an answer is reused; 0 turns the cache off. Default 60 s (a small fixed cap, not the record TTL). */
  cacheMs?: number;
  /** For the order of MX hosts of equal preference; default Math.random. */
  random?: () => number;
  now?: () => number;
}

/** An MX host with its addresses, before equal preferences are shuffled. */
interface Exchange {
  host: string;
  preference: number;
  addresses: string[];
}

type Answer = { ok: true; exchanges: Exchange[]; port: number } | { ok: false; reply: string; permanent: boolean };

type Lookup<T> = { ok: true; value: T } | { ok: false; code: string };

const TEMPORARY = (reply: string): Answer => ({ ok: false, reply, permanent: false });
const PERMANENT = (reply: string): Answer => ({ ok: false, reply, permanent: true });

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EFAIL';
}

async function attempt<T>(run: () => Promise<T>): Promise<Lookup<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, code: codeOf(error) };
  }
}

/** "No such name" or "no such record" — on Deno possibly a server failure too, see dns-rcode.ts. */
const isEmpty = (code: string): boolean => code === 'ENOTFOUND' || code === 'ENODATA';

export class MxResolver {
  readonly #resolver: Resolver;
  readonly #timeoutMs: number;
  readonly #cacheMs: number;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #cache = new Map<string, { expires: number; answer: Answer }>();

  /** Throws an Error naming `routing.dnsServers` when a server is not an IP address with an optional port. */
  constructor(options: MxResolverOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#resolver = new Resolver({ timeout: this.#timeoutMs, tries: 1 });
    if (options.servers !== undefined) {
      try {
        this.#resolver.setServers([...options.servers]);
      } catch (error) {
        throw new Error(`routing.dnsServers: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    }
    this.#cacheMs = options.cacheMs ?? 60_000;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The hosts to try for a next hop, best first: a domain's MX hosts, or — for `[192.0.2.1]`,
   * `host:port` — that host alone (no MX lookup). `port` is used where the destination names none.
   */
  resolve(destination: string, port = 25): Promise<MxResolution> {
    return this.#cached(`d ${destination} ${port}`, destination, 'domain', port);
  }

  /** Like resolve(), but a bare name is a host (a smart host), never looked up as MX. */
  resolveHost(host: string, port = 25): Promise<MxResolution> {
    return this.#cached(`h ${host} ${port}`, host, 'host', port);
  }

  async #cached(key: string, text: string, bare: 'domain' | 'host', port: number): Promise<MxResolution> {
    const hit = this.#cache.get(key);
    let answer = hit !== undefined && hit.expires > this.#now() ? hit.answer : undefined;
    if (answer === undefined) {
      answer = await this.#answer(text, bare, port);
      // Temporary failures are asked again next time; answers and permanent failures are kept.
      if (this.#cacheMs > 0 && (answer.ok || answer.permanent)) {
        if (this.#cache.size >= 10_000) this.#cache.clear();
        this.#cache.set(key, { expires: this.#now() + this.#cacheMs, answer });
      }
    }
    return answer.ok ? { ok: true, hosts: this.#order(answer.exchanges, answer.port) } : answer;
  }

  async #answer(text: string, bare: 'domain' | 'host', defaultPort: number): Promise<Answer> {
    const hop = parseNextHop(text, bare);
    if (hop instanceof Error) return PERMANENT(`553 5.1.2 invalid next hop: ${hop.message}`);
    if (hop.kind === 'address') return { ok: true, exchanges: [{ host: hop.address, preference: 0, addresses: [hop.address] }], port: hop.port ?? defaultPort };
    if (hop.kind === 'domain') return this.#mx(hop.name, defaultPort);
    const port = hop.port ?? defaultPort;
    {
      const found = await this.#addresses(hop.name);
      if (found.addresses.length > 0) return { ok: true, exchanges: [{ host: hop.name, preference: 0, addresses: found.addresses }], port };
      return TEMPORARY(`451 4.4.3 host ${hop.name} has no address (${found.codes.join(', ')})`);
    }
  }

  async #mx(domain: string, port: number): Promise<Answer> {
    const mx = await attempt(() => this.#resolver.resolveMx(domain));
    if (!mx.ok) {
      if (mx.code === 'ENODATA') return this.#implicitMx(domain, port);
      if (mx.code === 'ENOTFOUND') {
        const rcode = await this.#rcode(domain, 'MX');
        if (rcode === 'NXDOMAIN') return PERMANENT(`550 5.1.2 domain ${domain} does not exist`);
        if (rcode === 'NOERROR') return this.#implicitMx(domain, port);
        return TEMPORARY(`451 4.4.3 MX lookup for ${domain} failed (${rcode ?? 'no answer'})`);
      }
      return TEMPORARY(`451 4.4.3 MX lookup for ${domain} failed (${mx.code})`);
    }
    if (mx.value.length === 0) return this.#implicitMx(domain, port);
    const isNull = (exchange: string): boolean => exchange === '' || exchange === '.';
    // RFC 7505: a lone "." MX says the domain takes no mail. Next to other MX records it is noise.
    if (mx.value.length === 1 && isNull(mx.value[0]?.exchange ?? '')) return PERMANENT(`556 5.1.10 domain ${domain} accepts no mail (null MX)`);
    const names = new Map<string, number>();
    for (const { exchange, priority } of mx.value) {
      const host = exchange.replace(/\.$/, '').toLowerCase();
      // An MX naming an address is invalid (RFC 5321 §5.1); skip it rather than guess.
      if (isNull(host) || isIP(host.replace(/^\[|\]$/g, '')) !== 0) continue;
      names.set(host, Math.min(priority, names.get(host) ?? Infinity));
    }
    const exchanges = await Promise.all(
      [...names].map(async ([host, preference]): Promise<Exchange> => ({ host, preference, addresses: (await this.#addresses(host)).addresses })),
    );
    const usable = exchanges.filter((e) => e.addresses.length > 0);
    if (usable.length === 0) return TEMPORARY(`451 4.4.3 no MX host of ${domain} has an address`);
    return { ok: true, exchanges: usable, port };
  }

  /** RFC 5321 §5.1: no MX records, so the domain's own addresses are its mail host (preference 0). */
  async #implicitMx(domain: string, port: number): Promise<Answer> {
    const found = await this.#addresses(domain);
    if (found.addresses.length > 0) return { ok: true, exchanges: [{ host: domain, preference: 0, addresses: found.addresses }], port };
    if (!found.codes.every(isEmpty)) return TEMPORARY(`451 4.4.3 address lookup for ${domain} failed (${found.codes.join(', ')})`);
    const [a, aaaa] = await Promise.all([this.#rcode(domain, 'A'), this.#rcode(domain, 'AAAA')]);
    if (a === 'NXDOMAIN' && aaaa === 'NXDOMAIN') return PERMANENT(`550 5.1.2 domain ${domain} does not exist`);
    const settled = (r: string | undefined): boolean => r === 'NOERROR' || r === 'NXDOMAIN';
    if (settled(a) && settled(aaaa)) return PERMANENT(`550 5.4.4 domain ${domain} has no MX or address records`);
    return TEMPORARY(`451 4.4.3 address lookup for ${domain} failed (${a ?? 'no answer'}, ${aaaa ?? 'no answer'})`);
  }

  /** A then AAAA addresses of a name; `codes` are the failures (empty answers included). */
  async #addresses(name: string): Promise<{ addresses: string[]; codes: string[] }> {
    const [v4, v6] = await Promise.all([attempt(() => this.#resolver.resolve4(name)), attempt(() => this.#resolver.resolve6(name))]);
    const addresses: string[] = [];
    const codes: string[] = [];
    for (const result of [v4, v6]) {
      if (result.ok) addresses.push(...result.value);
      else codes.push(result.code);
    }
    return { addresses, codes };
  }

  #rcode(name: string, type: 'A' | 'AAAA' | 'MX'): Promise<string | undefined> {
    return queryRcode(this.#resolver.getServers(), name, type, this.#timeoutMs);
  }

  /** Sorted by preference; MX hosts of equal preference in random order, each host's addresses together. */
  #order(exchanges: readonly Exchange[], port: number): MxHost[] {
    const keyed = exchanges.map((e) => ({ e, k: this.#random() }));
    keyed.sort((x, y) => x.e.preference - y.e.preference || x.k - y.k);
    return keyed.flatMap(({ e }) => e.addresses.map((address) => ({ host: e.host, address, port, preference: e.preference })));
  }
}
