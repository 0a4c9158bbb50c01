/** For tests: a tiny authoritative DNS server on 127.0.0.1 (UDP) answering A/AAAA/MX/TXT/PTR from a table. */
import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';

export interface FixtureRecords {
  A?: string[];
  AAAA?: string[];
  MX?: { exchange: string; priority: number }[];
  /** Each record is its character strings, as on the wire. */
  TXT?: string[][];
  PTR?: string[];
  /** Never answer queries for this name (to test timeouts). */
  silent?: boolean;
}

const TYPES: Record<number, keyof Omit<FixtureRecords, 'silent'>> = { 1: 'A', 28: 'AAAA', 15: 'MX', 16: 'TXT', 12: 'PTR' };
const CODES: Record<string, number> = { A: 1, AAAA: 28, MX: 15, TXT: 16, PTR: 12 };

function encodeName(name: string): Uint8Array {
  const parts: number[] = [];
  for (const label of name.replace(/\.$/, '').split('.')) {
    if (label === '') continue; // the root name is the final zero alone
    const bytes = new TextEncoder().encode(label);
    parts.push(bytes.length, ...bytes);
  }
  parts.push(0);
  return Uint8Array.from(parts);
}

function ipv6Bytes(ip: string): number[] {
  const [head = '', tail] = ip.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

function rdata(type: string, value: unknown): Uint8Array {
  switch (type) {
    case 'A':
      return Uint8Array.from((value as string).split('.').map(Number));
    case 'AAAA':
      return Uint8Array.from(ipv6Bytes(value as string));
    case 'MX': {
      const { exchange, priority } = value as { exchange: string; priority: number };
      return Uint8Array.from([priority >> 8, priority & 0xff, ...encodeName(exchange)]);
    }
    case 'TXT':
      return Uint8Array.from((value as string[]).flatMap((chunk) => {
        const bytes = new TextEncoder().encode(chunk);
        return [bytes.length, ...bytes];
      }));
    default:
      return encodeName(value as string);
  }
}

/** Reads the question (name, type) and where it ends; undefined for anything malformed. */
function readQuestion(query: Uint8Array): { name: string; type: number; end: number } | undefined {
  const labels: string[] = [];
  let at = 12;
  for (;;) {
    const length = query[at];
    if (length === undefined || length > 63) return undefined;
    at++;
    if (length === 0) break;
    labels.push(new TextDecoder().decode(query.subarray(at, at + length)));
    at += length;
  }
  if (at + 4 > query.length) return undefined;
  const type = ((query[at] ?? 0) << 8) | (query[at + 1] ?? 0);
  return { name: labels.join('.').toLowerCase(), type, end: at + 4 };
}

function answer(query: Uint8Array, table: Map<string, FixtureRecords>): Uint8Array | undefined {
  const question = readQuestion(query);
  if (question === undefined) return undefined;
  const records = table.get(question.name);
  if (records?.silent) return undefined;
  const typeName = TYPES[question.type];
  const values: unknown[] = records === undefined || typeName === undefined ? [] : (records[typeName] ?? []);
  const answers = values.map((value) => {
    const data = rdata(typeName as string, value);
    const code = CODES[typeName as string] ?? 0;
    // Name as a pointer to the question (offset 12), class IN, TTL 60.
    return Uint8Array.from([0xc0, 12, code >> 8, code & 0xff, 0, 1, 0, 0, 0, 60, data.length >> 8, data.length & 0xff, ...data]);
  });
  const rcode = records === undefined ? 3 : 0; // NXDOMAIN, or NOERROR (possibly with no data)
  const header = [query[0] ?? 0, query[1] ?? 0, 0x84 | ((query[2] ?? 0) & 0x01), 0x80 | rcode, 0, 1, answers.length >> 8, answers.length & 0xff, 0, 0, 0, 0];
  const parts = [Uint8Array.from(header), query.subarray(12, question.end), ...answers];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export interface DnsFixture {
  /** `127.0.0.1:port`, for `dnsServers`. */
  server: string;
  queries: number;
  close(): Promise<void>;
}

/** Starts the server; names are matched case-insensitively, without a trailing dot. */
export async function startDnsFixture(records: Record<string, FixtureRecords>): Promise<DnsFixture> {
  const table = new Map(Object.entries(records).map(([name, value]) => [name.toLowerCase(), value]));
  const socket = dgram.createSocket('udp4');
  const fixture: DnsFixture = {
    server: '',
    queries: 0,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (message, peer) => {
    fixture.queries++;
    const reply = answer(new Uint8Array(message), table);
    if (reply !== undefined) socket.send(reply, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const address = socket.address();
  fixture.server = `${isIPv4(address.address) ? address.address : '127.0.0.1'}:${address.port}`;
  return fixture;
}
