/** IPv4/IPv6 network lists (`192.0.2.0/24`, `2001:db8::/32`) for relay permissions. */
import { isIPv4, isIPv6 } from 'node:net';

interface Network {
  bytes: Uint8Array;
  prefix: number;
}

function v4Bytes(ip: string): Uint8Array {
  return Uint8Array.from(ip.split('.').map(Number));
}

function v6Bytes(ip: string): Uint8Array {
  let text = ip;
  const out = new Uint8Array(16);
  // A trailing dotted quad (::ffff:192.0.2.1) fills the last four octets.
  const dotted = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: Uint8Array = new Uint8Array(0);
  if (dotted) {
    tail = v4Bytes(dotted[1] as string);
    text = `${text.slice(0, dotted.index)}:0:0`;
  }
  const [head = '', rest] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  if (tail.length) out.set(tail, 12);
  return out;
}

/** Address bytes; IPv4-mapped IPv6 (::ffff:a.b.c.d) is treated as the IPv4 address. */
export function ipBytes(ip: string): Uint8Array | null {
  if (isIPv4(ip)) return v4Bytes(ip);
  if (!isIPv6(ip)) return null;
  const b = v6Bytes(ip);
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  return mapped ? b.slice(12) : b;
}

/** Parses `addr/prefix` (or a bare address); null if malformed. */
export function parseNetwork(text: string): Network | null {
  const [addr = '', prefixText] = text.split('/');
  const bytes = ipBytes(addr);
  if (bytes === null) return null;
  const max = bytes.length * 8;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  return prefix > max ? null : { bytes, prefix };
}

export class NetworkList {
  readonly #nets: Network[];

  constructor(networks: readonly string[]) {
    this.#nets = networks.map((n) => {
      const parsed = parseNetwork(n);
      if (parsed === null) throw new Error(`invalid network: ${n}`);
      return parsed;
    });
  }

  has(ip: string): boolean {
    const b = ipBytes(ip);
    if (b === null) return false;
    return this.#nets.some((n) => n.bytes.length === b.length && prefixMatch(n.bytes, b, n.prefix));
  }
}

function prefixMatch(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rem = bits & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return ((a[whole] as number) & mask) === ((b[whole] as number) & mask);
}
