/** The SMTP listening socket: connection limits (total, per client address) and orderly shutdown. */
import net from 'node:net';
import type tls from 'node:tls';
import { serveConnection, type ConnectionSummary } from './connection.ts';
import { formatReply, reply } from './replies.ts';
import type { SessionConfig, SessionPorts } from './session-types.ts';
import type { NetworkList } from './cidr.ts';

export interface ListenerOptions {
  maxConnections: number;
  maxConnectionsPerClient: number;
  greetingDelayMs: number;
  secureContext: tls.SecureContext | null;
  relayNetworks: NetworkList;
  /** Session settings shared by all connections; the client's facts are filled in per connection. */
  session: Omit<SessionConfig, 'relayClient' | 'client'>;
  ports: SessionPorts;
  onConnectionClosed(summary: ConnectionSummary): void;
}

export class SmtpListener {
  readonly #opts: ListenerOptions;
  readonly #server: net.Server;
  readonly #perClient = new Map<string, number>();
  /** Sessions still running, by socket (what counts against the limits). */
  readonly #live = new Map<net.Socket, { shutdown(): void }>();
  /** Sockets not yet closed, including sessions that already said goodbye. */
  readonly #open = new Set<net.Socket>();

  constructor(opts: ListenerOptions) {
    this.#opts = opts;
    this.#server = net.createServer({ noDelay: true }, (socket) => this.#accept(socket));
  }

  get connections(): number {
    return this.#live.size;
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host, port }, () => {
        this.#server.removeListener('error', reject);
        const addr = this.#server.address() as net.AddressInfo;
        resolve({ host: addr.address, port: addr.port });
      });
    });
  }

  #accept(socket: net.Socket): void {
    const ip = socket.remoteAddress ?? '';
    const fromClient = this.#perClient.get(ip) ?? 0;
    socket.on('error', () => {});
    this.#open.add(socket);
    socket.once('close', () => this.#open.delete(socket));
    if (this.#live.size >= this.#opts.maxConnections) return refuse(socket, 'tooManyConnections');
    if (fromClient >= this.#opts.maxConnectionsPerClient) return refuse(socket, 'tooManyClientConnections');
    this.#perClient.set(ip, fromClient + 1);
    const handle = serveConnection(socket, {
      session: {
        ...this.#opts.session,
        client: { address: ip, port: socket.remotePort ?? 0 },
        relayClient: this.#opts.relayNetworks.has(ip),
      },
      ports: this.#opts.ports,
      secureContext: this.#opts.secureContext,
      greetingDelayMs: this.#opts.greetingDelayMs,
      onRelease: () => {
        this.#live.delete(socket);
        const n = (this.#perClient.get(ip) ?? 1) - 1;
        if (n <= 0) this.#perClient.delete(ip);
        else this.#perClient.set(ip, n);
      },
      onClose: (summary) => this.#opts.onConnectionClosed(summary),
    });
    this.#live.set(socket, handle);
  }

  /** Stops accepting, tells every client 421, and waits (bounded) for their sockets to close. */
  async close(graceMs = 5000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const handle of this.#live.values()) handle.shutdown();
    const deadline = Date.now() + graceMs;
    while (this.#open.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const socket of this.#open) socket.destroy();
    await closed;
  }
}

function refuse(socket: net.Socket, key: 'tooManyConnections' | 'tooManyClientConnections'): void {
  socket.end(formatReply(reply(key)));
  setTimeout(() => socket.destroy(), 1000).unref?.();
}
