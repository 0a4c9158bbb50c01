/** The start-up rule for where the API may listen: loopback freely, anywhere else only over TLS or by explicit consent. */
import { isIPv4 } from 'node:net';
import type { Config } from '../config/schema.ts';
import { splitHostPort } from '../config/load-config.ts';

/** True for 127.0.0.0/8, ::1, its IPv4-mapped form and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIPv4(v4) && v4.startsWith('127.');
}

/**
 * Null when the API may listen where `api.listen` says; otherwise the reason, naming the field.
 * Bearer tokens must not cross a network in the clear unless the admin said so.
 */
export function checkApiBind(api: Pick<Config['api'], 'listen' | 'tls' | 'allowInsecureRemote'>): string | null {
  const { host } = splitHostPort(api.listen);
  if (isLoopbackHost(host) || api.tls !== undefined || api.allowInsecureRemote) return null;
  return (
    `api.listen: ${api.listen} is not a loopback address; set api.tls (cert and key) to serve HTTPS there, ` +
    'or api.allowInsecureRemote: true to send bearer tokens over plain HTTP'
  );
}
