/** `ctx.dns.resolve` on the host side: A/AAAA/MX/TXT/PTR through a node:dns Resolver, bounded by the event's budget. */
import { Resolver } from 'node:dns/promises';
import { isIP, isIPv4 } from 'node:net';
import type { DnsAnswer, DnsRecordType } from '../../sdk/context.ts';
import { CapabilityError } from './capability-error.ts';

export const DNS_RECORD_TYPES: readonly DnsRecordType[] = ['A', 'AAAA', 'MX', 'TXT', 'PTR'];

/** Answers that mean "no such record": the name does not exist, or has no record of the type. */
const EMPTY_ANSWER_CODES = new Set(['ENOTFOUND', 'ENODATA']);
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** Throws an Error naming `grants.dnsServers` when the servers are not `ip` / `ip:port` / `[ipv6]:port`. */
export function checkDnsServers(servers: readonly string[]): void {
  try {
    new Resolver().setServers([...servers]);
  } catch (error) {
    throw new Error(`grants.dnsServers: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** True for a DNS name of at most 253 characters whose labels are letters, digits, '-' and '_' (a trailing dot is allowed). */
export function isDnsName(name: string): boolean {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare.length === 0 || bare.length > 253) return false;
  return bare.split('.').every((label) => LABEL.test(label));
}

/** The reverse-lookup name of an IP address (`4.3.2.1.in-addr.arpa`, or 32 nibbles `.ip6.arpa`). */
export function reverseName(ip: string): string {
  if (isIPv4(ip)) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  let text = ip;
  // An embedded IPv4 tail (::ffff:192.0.2.1) becomes two hex groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, dotted.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const nibbles = groups.map((g) => g.padStart(4, '0')).join('');
  return `${nibbles.split('').reverse().join('.')}.ip6.arpa`;
}

export interface DnsLookupOptions {
  /** Servers to ask; the system's when absent. */
  servers?: readonly string[];
  /** Time left for the whole lookup. */
  timeoutMs: number;
  /** Aborted when the event's budget runs out: the lookup is cancelled. */
  signal: AbortSignal;
}

/** Resolves `name` for `type`; no such name or no such record is `[]`, any other failure throws a CapabilityError. */
export async function resolveDns<T extends DnsRecordType>(name: string, type: T, options: DnsLookupOptions): Promise<DnsAnswer[T]> {
  const query = type === 'PTR' && isIP(name) !== 0 ? reverseName(name) : name;
  if (!isDnsName(query)) throw new CapabilityError('invalid-argument', `dns.resolve: name ${JSON.stringify(name.slice(0, 300))} is not a DNS name`);
  const resolver = new Resolver({ timeout: Math.max(1, Math.ceil(options.timeoutMs)), tries: 1 });
  if (options.servers !== undefined) resolver.setServers([...options.servers]);
  const cancel = (): void => resolver.cancel();
  options.signal.addEventListener('abort', cancel, { once: true });
  try {
    return (await lookup(resolver, query, type)) as DnsAnswer[T];
  } catch (error) {
    const code = String((error as { code?: unknown }).code ?? (error instanceof Error ? error.message : error));
    if (EMPTY_ANSWER_CODES.has(code)) return [] as DnsAnswer[T];
    if (options.signal.aborted) throw new CapabilityError('timeout', `dns.resolve: ${type} ${name}: the event's time budget ran out`);
    throw new CapabilityError('failed', `dns.resolve: ${type} ${name} failed (${code})`, { cause: error });
  } finally {
    options.signal.removeEventListener('abort', cancel);
  }
}

async function lookup(resolver: Resolver, name: string, type: DnsRecordType): Promise<DnsAnswer[DnsRecordType]> {
  switch (type) {
    case 'A':
      return resolver.resolve4(name);
    case 'AAAA':
      return resolver.resolve6(name);
    case 'MX':
      return (await resolver.resolveMx(name)).map(({ exchange, priority }) => ({ exchange, priority })).sort((a, b) => a.priority - b.priority);
    case 'TXT':
      // A record's character strings form one text (SPF, DKIM). Bun 1.4's Resolver splits them into records.
      return (await resolver.resolveTxt(name)).map((chunks) => chunks.join(''));
    case 'PTR':
      return resolver.resolvePtr(name);
  }
}
