/** The configuration file's schema (valibot) and its embedded defaults; the type is inferred, not written twice. */
import * as v from 'valibot';
import { parseNetwork } from '../smtp/cidr.ts';

const MiB = 1024 * 1024;

/** `host:port`, `[v6]:port`. */
export const ListenAddressSchema = v.pipe(
  v.string(),
  v.regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected HOST:PORT, e.g. 127.0.0.1:2525'),
  v.check((s) => !/:\d+$/.test(s) || Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, 'expected a port number up to 65535'),
);

const positive = (max: number) => v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(max));
const ms = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(24 * 3600 * 1000));

const DomainSchema = v.pipe(
  v.string(),
  v.toLowerCase(),
  v.regex(/^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/, 'expected a domain name'),
);

const PasswordHashSchema = v.pipe(v.string(), v.startsWith('$scrypt$', 'expected a hash from `sluice hash-password`'));

export const LimitsSchema = v.object({
  commandLineOctets: v.optional(v.pipe(v.number(), v.integer(), v.minValue(512), v.maxValue(65536)), 512),
  textLineOctets: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1000), v.maxValue(1_000_000)), 1000),
  messageSize: v.optional(positive(2 * 1024 * MiB), 25 * MiB),
  recipients: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(100_000)), 100),
  connections: v.optional(positive(100_000), 200),
  connectionsPerClient: v.optional(positive(100_000), 20),
  errors: v.optional(positive(1000), 20),
  unknownCommands: v.optional(positive(1000), 10),
  authFailures: v.optional(positive(100), 3),
  messagesPerConnection: v.optional(positive(1_000_000), 1000),
});

export const TimeoutsSchema = v.object({
  commandMs: v.optional(ms, 300_000),
  dataIdleMs: v.optional(ms, 180_000),
  dataTotalMs: v.optional(ms, 600_000),
  tlsHandshakeMs: v.optional(ms, 30_000),
});

export const ConfigSchema = v.strictObject({
  hostname: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9.-]{1,253}$/, 'expected a host name'))),
  dataDir: v.optional(v.pipe(v.string(), v.minLength(1)), './sluice-data'),
  domains: v.optional(v.pipe(v.array(DomainSchema), v.minLength(1, 'expected at least one accepted domain')), ['localhost']),
  smtp: v.optional(
    v.strictObject({
      listen: v.optional(ListenAddressSchema, '127.0.0.1:2525'),
      greetingDelayMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(60_000)), 0),
      limits: v.optional(LimitsSchema, {}),
      timeouts: v.optional(TimeoutsSchema, {}),
      relayNetworks: v.optional(
        v.array(v.pipe(v.string(), v.check((s) => parseNetwork(s) !== null, 'expected an address or CIDR network'))),
        [],
      ),
      tls: v.optional(
        v.strictObject({
          cert: v.pipe(v.string(), v.minLength(1)),
          key: v.pipe(v.string(), v.minLength(1)),
        }),
      ),
      auth: v.optional(
        v.strictObject({
          allowPlaintext: v.optional(v.boolean(), false),
          users: v.optional(v.array(v.strictObject({ name: v.pipe(v.string(), v.minLength(1)), password: PasswordHashSchema })), []),
        }),
        {},
      ),
    }),
    {},
  ),
  api: v.optional(
    v.strictObject({
      listen: v.optional(ListenAddressSchema, '127.0.0.1:8025'),
      enabled: v.optional(v.boolean(), true),
      /** HTTPS for the API; required (or `allowInsecureRemote`) to listen on anything but loopback. */
      tls: v.optional(
        v.strictObject({
          cert: v.pipe(v.string(), v.minLength(1)),
          key: v.pipe(v.string(), v.minLength(1)),
        }),
      ),
      /** Serve plain HTTP on a non-loopback address: bearer tokens then cross the network in the clear. */
      allowInsecureRemote: v.optional(v.boolean(), false),
      /** Largest agent bundle upload, in bytes (the bundle container itself caps at 17 MiB). */
      maxBundleBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1024), v.maxValue(17 * MiB)), 16 * MiB),
    }),
    {},
  ),
  agents: v.optional(
    v.strictObject({
      /** Which sandbox runs agents: `auto` prefers isolated-vm in a Node host process, else QuickJS (WASM) in-process. */
      driver: v.optional(v.picklist(['auto', 'isolated-vm', 'quickjs']), 'auto'),
      /** An agent failing this many events in a row is suspended for `breakerCooldownMs`. */
      breakerThreshold: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000)), 5),
      breakerCooldownMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(24 * 3600_000)), 60_000),
    }),
    {},
  ),
  spool: v.optional(
    v.strictObject({
      /** Journal segment size: space is reclaimed a whole segment at a time. */
      segmentBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(64 * 1024), v.maxValue(1024 * MiB)), 64 * MiB),
    }),
    {},
  ),
  delivery: v.optional(
    v.strictObject({
      batchSize: v.optional(positive(10_000), 64),
      /** Temporary failures: first retry after `firstMs`, doubling up to `maxMs`; fail after `expireMs` in the queue. */
      retry: v.optional(
        v.strictObject({
          firstMs: v.optional(ms, 5 * 60_000),
          maxMs: v.optional(ms, 4 * 3600_000),
          expireMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(30 * 24 * 3600_000)), 2 * 24 * 3600_000),
        }),
        {},
      ),
    }),
    {},
  ),
  log: v.optional(
    v.strictObject({
      format: v.optional(v.picklist(['text', 'json']), 'text'),
      level: v.optional(v.picklist(['debug', 'info', 'warn', 'error']), 'info'),
    }),
    {},
  ),
});

export type ConfigInput = v.InferInput<typeof ConfigSchema>;
export type Config = v.InferOutput<typeof ConfigSchema>;
