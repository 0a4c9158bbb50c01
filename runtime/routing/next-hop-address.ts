/** Parses where outbound SMTP goes: a domain (MX lookup) or a host: `[192.0.2.1]`, `[IPv6:2001:db8::1]`, `mx.example.com:2525`. */
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

export type NextHopAddress =
  /** Look up the domain's MX records (RFC 5321 §5.1). */
  | { kind: 'domain'; name: string }
  /** Connect to this address; no DNS at all. */
  | { kind: 'address'; address: string; port?: number }
  /** Connect to this host's A/AAAA addresses; no MX lookup. */
  | { kind: 'host'; name: string; port?: number };

const NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)*$/;

function parsePort(text: string | undefined): number | undefined | Error {
  if (text === undefined) return undefined;
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  return port >= 1 && port <= 65535 ? port : new Error(`port ${JSON.stringify(text)} is not a number from 1 to 65535`);
}

/** A DNS name in ASCII (A-labels for an IDN), lowercase, without a trailing dot; an Error when it is not one. */
export function asciiName(name: string): string | Error {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  const ascii = /^[\x21-\x7e]*$/.test(bare) ? bare.toLowerCase() : domainToASCII(bare);
  return NAME.test(ascii) ? ascii : new Error(`${JSON.stringify(name)} is not a domain name`);
}

/**
 * `bare` says what a name without a port is: a `domain` for a next hop (its MX records are used),
 * a `host` for a smart host (its own addresses are).
 */
export function parseNextHop(text: string, bare: 'domain' | 'host'): NextHopAddress | Error {
  const literal = /^\[(?:IPv6:)?([0-9A-Fa-f:.]+)\](?::([^:]*))?$/.exec(text);
  if (literal) {
    const address = literal[1] ?? '';
    const port = parsePort(literal[2]);
    if (port instanceof Error) return port;
    if (isIP(address) === 0) return new Error(`${JSON.stringify(text)}: ${JSON.stringify(address)} is not an IP address`);
    return port === undefined ? { kind: 'address', address } : { kind: 'address', address, port };
  }
  if (isIP(text) !== 0) return { kind: 'address', address: text };
  const colon = text.lastIndexOf(':');
  const [host, portText] = colon === -1 ? [text, undefined] : [text.slice(0, colon), text.slice(colon + 1)];
  const port = parsePort(portText);
  if (port instanceof Error) return port;
  if (isIP(host) === 4) return port === undefined ? { kind: 'address', address: host } : { kind: 'address', address: host, port };
  const name = asciiName(host);
  if (name instanceof Error) return name;
  if (port !== undefined) return { kind: 'host', name, port };
  return bare === 'domain' ? { kind: 'domain', name } : { kind: 'host', name };
}
