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

/** A mailbox `local@domain` (no angle brackets), lowercased domain kept as written otherwise. */
const AddressSchema = v.pipe(v.string(), v.regex(/^[^\s@<>]{1,64}@[^\s@<>]{1,253}$/, 'expected an address local@domain'));

/** Which recipient domains a connector takes: `example.com`, `*.example.com` (subdomains), `*` (everything). */
const AddressSpaceSchema = v.pipe(
  v.string(),
  v.toLowerCase(),
  v.regex(/^(\*|(\*\.)?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*)$/, 'expected a domain, *.domain or *'),
);

const ConnectorName = v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected a connector name: lowercase letters, digits, - and _'));

const ConnectorCommon = {
  name: ConnectorName,
  addressSpaces: v.pipe(v.array(AddressSpaceSchema), v.minLength(1, 'expected at least one address space')),
  /** Lower wins when several connectors match a domain equally specifically. */
  priority: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1_000_000)), 100),
  /** Deliveries in flight at once per next hop. */
  maxConnections: v.optional(positive(1000), 4),
};

export const ConnectorSchema = v.variant('type', [
  v.strictObject({
    type: v.literal('smtp'),
    ...ConnectorCommon,
    /** Relay through these hosts (`host[:port]`) instead of looking up MX records. */
    smartHosts: v.optional(v.pipe(v.array(v.pipe(v.string(), v.regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, 'expected HOST or HOST:PORT'))), v.minLength(1))),
    /** Port for MX hosts (and smart hosts without one). */
    port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)), 25),
    /** `opportunistic`: STARTTLS when offered; `required`: defer if it is not; `none`: never. */
    tls: v.optional(v.picklist(['opportunistic', 'required', 'none']), 'opportunistic'),
    /** Check the next hop's certificate; default: only when `tls` is `required`. */
    tlsVerify: v.optional(v.boolean()),
    auth: v.optional(v.strictObject({ user: v.pipe(v.string(), v.minLength(1)), pass: v.pipe(v.string(), v.minLength(1)) })),
  }),
  v.strictObject({
    type: v.literal('agent'),
    ...ConnectorCommon,
    /** The delivery agent (`vendor/name`) that takes this connector's mail. */
    agent: v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9-]*\/[a-z0-9][a-z0-9-]*$/, 'expected vendor/name')),
  }),
]);
export type ConnectorConfig = v.InferOutput<typeof ConnectorSchema>;

function uniqueNames(list: readonly { name: string }[]): boolean {
  return new Set(list.map((c) => c.name)).size === list.length;
}

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
  /** Who the accepted domains' recipients are (the categorizer resolves them). */
  recipients: v.optional(
    v.strictObject({
      /** Refuse unknown local recipients at RCPT (550 5.1.1); otherwise they are bounced by the categorizer. Needs `mailboxes`. */
      validate: v.optional(v.boolean(), false),
      /** Known local mailboxes (full addresses in accepted domains). Empty: every local part of an accepted domain is a mailbox. */
      mailboxes: v.optional(v.array(AddressSchema), []),
      /** Address → addresses it is delivered to instead (one level; targets may be remote or aliases again). */
      aliases: v.optional(v.record(AddressSchema, v.pipe(v.array(AddressSchema), v.minLength(1, 'expected at least one target'))), {}),
      /** Distribution group address → members; expanded recursively, loops are detected and broken. */
      groups: v.optional(v.record(AddressSchema, v.pipe(v.array(AddressSchema), v.minLength(1, 'expected at least one member'))), {}),
    }),
    {},
  ),
  /** Send connectors: where mail for non-local domains goes. */
  routing: v.optional(
    v.strictObject({
      connectors: v.optional(v.pipe(v.array(ConnectorSchema), v.check((list) => uniqueNames(list), 'expected connector names to be unique')), []),
      /** DNS servers for MX lookups (`ip` or `ip:port`); the system's resolvers when absent. */
      dnsServers: v.optional(v.array(v.pipe(v.string(), v.regex(/^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+)(:\d{1,5})?$/, 'expected IP or IP:PORT')))),
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
      /** Send a delay DSN once a recipient has been deferred this long (NOTIFY permitting). */
      delayNoticeMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(30 * 24 * 3600_000)), 4 * 3600_000),
      /** A next hop failing this many attempts in a row is marked down and waits `linkRetryMs`. */
      linkDownAfter: v.optional(positive(1000), 5),
      linkRetryMs: v.optional(ms, 60_000),
      /** A message whose processing crashed this many times goes to the poison queue. */
      poisonAfter: v.optional(positive(100), 3),
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
