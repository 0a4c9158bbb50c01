/** Binds the management API (loopback by default, HTTPS when given a certificate) with @hono/node-server, which runs on Node, Bun and Deno. */
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface ApiServer {
  host: string;
  port: number;
  /** `http` or `https`. */
  scheme: 'http' | 'https';
  close(): Promise<void>;
}

/** Paths of a PEM certificate chain and its private key (the config's `api.tls`). */
export interface ApiTlsFiles {
  cert: string;
  key: string;
}

// The Hono type parameters vary with the app's variables; serving needs only `fetch`.
type Fetchable = Pick<Hono<never>, 'fetch'> | Pick<Hono, 'fetch'>;

export async function serveApi(app: Fetchable, host: string, port: number, tls?: ApiTlsFiles): Promise<ApiServer> {
  const secure = tls === undefined ? undefined : { cert: await readFile(tls.cert), key: await readFile(tls.key) };
  return new Promise((resolve, reject) => {
    const onListen = (info: AddressInfo): void => {
      server.removeListener('error', reject);
      resolve({
        host: info.address,
        port: info.port,
        scheme: secure ? 'https' : 'http',
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // Keep-alive connections (fetch pools them) would hold close() open until they time out.
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      });
    };
    const fetch = app.fetch as Parameters<typeof serve>[0]['fetch'];
    const server = secure
      ? serve({ fetch, hostname: host, port, createServer: createHttpsServer, serverOptions: secure }, onListen)
      : serve({ fetch, hostname: host, port }, onListen);
    server.once('error', reject);
  });
}
