/**
 * For tests: a tiny authoritative DNS server on 127.0.0.1 (UDP) answering A/AAAA/MX/TXT/PTR from a
 * table, with names that never answer (timeouts) or always SERVFAIL, and a log of the questions seen.
 */
import dgram from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

export interface ZoneRecords {
  A?: string[];
  AAAA?: string[];
  /** `exchange: '.'` (or '') is the root name: a null MX (RFC 7505). */
  MX?: { exchange: string; priority: number }[];
  /** Each record is its character strings, as on the wire. */
  TXT?: string[][];
  PTR?: string[];
  /** Never answer queries for this name (a timeout). */
  silent?: boolean;
  /** Answer every query for this name with SERVFAIL. */
  servfail?: boolean;
}

type RecordType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'PTR';
type RecordValue = string | string[] | { exchange: string; priority: number };

const TYPES: Record<number, RecordType> = { 1: 'A', 28: 'AAAA', 15: 'MX', 16: 'TXT', 12: 'PTR' };
const CODES: Record<RecordType, number> = { A: 1, AAAA: 28, MX: 15, TXT: 16, PTR: 12 };
const RCODE = { noError: 0, servFail: 2, nxDomain: 3 } as const;

/** Wire form of a name; the root name ('.' or '') is the single zero octet (two would be malformed). */
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

function rdata(type: RecordType, value: RecordValue): number[] {
  switch (type) {
    case 'A':
      return (value as string).split('.').map(Number);
    case 'AAAA':
      return ipv6Bytes(value as string);
    case 'MX': {
      const { exchange, priority } = value as { exchange: string; priority: number };
      return [priority >> 8, priority & 0xff, ...encodeName(exchange)];
    }
    case 'TXT':
      return (value as string[]).flatMap((chunk) => {
        const bytes = new TextEncoder().encode(chunk);
        return [bytes.length, ...bytes];
      });
    case 'PTR':
      return encodeName(value as string);
  }
}

/** Catches table typos early, naming the record, rather than serving a garbled answer. */
function checkRecords(name: string, records: ZoneRecords): void {
  const where = `startDnsTestServer: records['${name}']`;
  records.A?.forEach((ip, i) => {
    if (!isIPv4(ip)) throw new TypeError(`${where}.A[${i}] is not an IPv4 address: ${ip}`);
  });
  records.AAAA?.forEach((ip, i) => {
    // Dotted-quad tails (::ffff:1.2.3.4) are valid IPv6 but not handled by ipv6Bytes.
    if (!isIPv6(ip) || ip.includes('.')) throw new TypeError(`${where}.AAAA[${i}] is not a hex IPv6 address: ${ip}`);
  });
  records.MX?.forEach(({ priority }, i) => {
    if (!Number.isInteger(priority) || priority < 0 || priority > 0xffff) throw new TypeError(`${where}.MX[${i}].priority must be an integer 0..65535`);
  });
  records.TXT?.forEach((strings, i) => {
    strings.forEach((chunk, j) => {
      if (new TextEncoder().encode(chunk).length > 255) throw new TypeError(`${where}.TXT[${i}][${j}] is longer than 255 bytes`);
    });
  });
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
  return { name: labels.join('.').toLowerCase(), type: ((query[at] ?? 0) << 8) | (query[at + 1] ?? 0), end: at + 4 };
}

function answer(query: Uint8Array, table: Map<string, ZoneRecords>, seen: string[]): Uint8Array | undefined {
  const question = readQuestion(query);
  if (question === undefined) return undefined;
  const typeName = TYPES[question.type];
  seen.push(`${typeName ?? question.type} ${question.name}`);
  const records = table.get(question.name);
  if (records?.silent) return undefined;
  const values: RecordValue[] = records === undefined || records.servfail || typeName === undefined ? [] : (records[typeName] ?? []);
  const answers = values.map((value) => {
    const data = rdata(typeName as RecordType, value);
    const code = CODES[typeName as RecordType];
    // Name as a pointer to the question (offset 12), class IN, TTL 60.
    return [0xc0, 12, code >> 8, code & 0xff, 0, 1, 0, 0, 0, 60, data.length >> 8, data.length & 0xff, ...data];
  });
  const rcode = records === undefined ? RCODE.nxDomain : records.servfail ? RCODE.servFail : RCODE.noError;
  // QR + AA, RD copied from the query; RA; then one question and the answers.
  const header = [query[0] ?? 0, query[1] ?? 0, 0x84 | ((query[2] ?? 0) & 0x01), 0x80 | rcode, 0, 1, answers.length >> 8, answers.length & 0xff, 0, 0, 0, 0];
  return Uint8Array.from([...header, ...query.subarray(12, question.end), ...answers.flat()]);
}

export interface DnsTestServer {
  /** `127.0.0.1:port`, for `dnsServers`. */
  server: string;
  /** `TYPE name` of every question asked, in order (`MX example.test`; unknown types by number). */
  queries: string[];
  close(): Promise<void>;
}

/** Starts the server; names are matched case-insensitively, without a trailing dot. */
export async function startDnsTestServer(records: Record<string, ZoneRecords>): Promise<DnsTestServer> {
  for (const [name, value] of Object.entries(records)) checkRecords(name, value);
  const table = new Map(Object.entries(records).map(([name, value]) => [name.toLowerCase().replace(/\.$/, ''), value]));
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
