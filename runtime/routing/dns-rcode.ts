/**
 * Asks a DNS server one question over UDP and returns only the response code (NOERROR, NXDOMAIN,
 * SERVFAIL …).
 *
 * `node:dns` reports "no such name", "no such record" and — on Deno — "server failure" all as
 * ENOTFOUND (Bun also folds NODATA into ENOTFOUND). A permanent bounce must not rest on that, so
 * before one the resolver confirms the answer here, on every runtime alike.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import packet from 'dns-packet';

export type Rcode = 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL' | string;

/** `ip`, `ip:port` or `[v6]:port` (what `Resolver.getServers()` returns) as an address and port. */
export function parseServer(server: string): { address: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(server);
  if (bracketed) return { address: bracketed[1] ?? '', port: Number(bracketed[2] ?? 53) };
  if (isIPv6(server)) return { address: server, port: 53 };
  const colon = server.lastIndexOf(':');
  return colon === -1 ? { address: server, port: 53 } : { address: server.slice(0, colon), port: Number(server.slice(colon + 1)) };
}

function askOne(server: string, question: Buffer, id: number, timeoutMs: number): Promise<Rcode | undefined> {
  const { address, port } = parseServer(server);
  return new Promise((resolve) => {
    const socket = dgram.createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    let settled = false;
    const done = (rcode: Rcode | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        socket.close();
      } catch {
        // already closed
      }
      resolve(rcode);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on('error', () => done(undefined));
    socket.on('message', (message) => {
      try {
        // dns-packet decodes the header's RCODE as `rcode`; its type definitions leave it out.
        const reply = packet.decode(message) as packet.DecodedPacket & { rcode?: string };
        if (reply.id === id && reply.type === 'response') done(reply.rcode ?? 'NOERROR');
      } catch {
        // not a DNS response: keep waiting for one
      }
    });
    try {
      socket.send(question, port, address, (error) => {
        if (error) done(undefined);
      });
    } catch {
      done(undefined);
    }
  });
}

/** The response code of the first server that answers, or undefined when none does in time. */
export async function queryRcode(servers: readonly string[], name: string, type: 'A' | 'AAAA' | 'MX', timeoutMs: number): Promise<Rcode | undefined> {
  for (const server of servers) {
    const id = Math.floor(Math.random() * 0x10000);
    let question: Buffer;
    try {
      question = packet.encode({ type: 'query', id, flags: packet.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });
    } catch {
      return undefined;
    }
    const rcode = await askOne(server, question, id, timeoutMs);
    if (rcode !== undefined) return rcode;
  }
  return undefined;
}
