/**
 * For tests: a tiny authoritative DNS server on 127.0.0.1 (UDP) answering A/AAAA/MX from a table.
 *
 * A copy of runtime/sandbox/capability-dns-fixture.ts with what MX tests need besides: the root
 * name encoded as one zero octet (a null MX, RFC 7505; the fixture writes two, which Deno's
 * resolver drops as malformed), SERVFAIL answers, and the queries seen.
 */
import dgram from 'node:dgram';

export interface ZoneRecords {
  A?: string[];
  AAAA?: string[];
  /** `exchange: '.'` (or '') is the root name: a null MX. */
  MX?: { exchange: string; priority: number }[];
  /** Never answer queries for this name (a timeout). */
  silent?: boolean;
  /** Answer every query for this name with SERVFAIL. */
  servfail?: boolean;
}

const TYPES: Record<number, 'A' | 'AAAA' | 'MX'> = { 1: 'A', 28: 'AAAA', 15: 'MX' };
const CODES = { A: 1, AAAA: 28, MX: 15 } as const;

function encodeName(name: string): number[] {
  const out: number[] = [];
  for (const label of name.replace(/\.$/, '').split('.')) {
    if (label === '') continue;
    const bytes = new TextEncoder().encode(label);
    out.push(bytes.length, ...bytes);
  }
  out.push(0);
  return out;
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

function rdata(type: 'A' | 'AAAA' | 'MX', value: string | { exchange: string; priority: number }): number[] {
  if (type === 'A') return (value as string).split('.').map(Number);
  if (type === 'AAAA') return ipv6Bytes(value as string);
  const { exchange, priority } = value as { exchange: string; priority: number };
  return [priority >> 8, priority & 0xff, ...encodeName(exchange)];
}

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
  return { name: labels.join('.').toLowerCase(), type: ((query[at] ?? 0) << 8) | (query[at + 1] ?? 0), end: at + 4 };
}

function answer(query: Uint8Array, table: Map<string, ZoneRecords>, seen: string[]): Uint8Array | undefined {
  const question = readQuestion(query);
  if (question === undefined) return undefined;
  const typeName = TYPES[question.type];
  seen.push(`${typeName ?? question.type} ${question.name}`);
  const records = table.get(question.name);
  if (records?.silent) return undefined;
  const values = records === undefined || records.servfail || typeName === undefined ? [] : (records[typeName] ?? []);
  const answers = values.map((value) => {
    const data = rdata(typeName as 'A' | 'AAAA' | 'MX', value);
    const code = CODES[typeName as 'A' | 'AAAA' | 'MX'];
    // Name as a pointer to the question (offset 12), class IN, TTL 60.
    return [0xc0, 12, code >> 8, code & 0xff, 0, 1, 0, 0, 0, 60, data.length >> 8, data.length & 0xff, ...data];
  });
  const rcode = records === undefined ? 3 : records.servfail ? 2 : 0;
  const header = [query[0] ?? 0, query[1] ?? 0, 0x84 | ((query[2] ?? 0) & 0x01), 0x80 | rcode, 0, 1, answers.length >> 8, answers.length & 0xff, 0, 0, 0, 0];
  return Uint8Array.from([...header, ...query.subarray(12, question.end), ...answers.flat()]);
}

export interface DnsTestServer {
  /** `127.0.0.1:port`, for `dnsServers`. */
  server: string;
  /** `TYPE name` of every question asked, in order. */
  queries: string[];
  close(): Promise<void>;
}

/** Starts the server; names are matched case-insensitively, without a trailing dot. */
export async function startDnsTestServer(records: Record<string, ZoneRecords>): Promise<DnsTestServer> {
  const table = new Map(Object.entries(records).map(([name, value]) => [name.toLowerCase(), value]));
  const socket = dgram.createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (message, peer) => {
    const reply = answer(new Uint8Array(message), table, queries);
    if (reply !== undefined) socket.send(reply, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return {
    server: `127.0.0.1:${socket.address().port}`,
    queries,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
