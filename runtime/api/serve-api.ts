/** Binds the management API (loopback by default) with @hono/node-server, which runs on Node, Bun and Deno. */
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { AddressInfo } from 'node:net';

export interface ApiServer {
  host: string;
  port: number;
  close(): Promise<void>;
}

export function serveApi(app: Hono, host: string, port: number): Promise<ApiServer> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, (info: AddressInfo) => {
      server.removeListener('error', reject);
      resolve({
        host: info.address,
        port: info.port,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
    server.once('error', reject);
  });
}
