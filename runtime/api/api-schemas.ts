/**
 * The management API's valibot schemas: every request input (path, query, JSON body) is validated with
 * these, and the OpenAPI document is generated from the same objects, responses included.
 */
import * as v from 'valibot';
import type { AgentInfo, AgentStats } from '../agents/registry-types.ts';
import type { KeyRecord } from '../agents/trust-store.ts';
import { AGENT_KINDS, DELIVERY_EVENTS, RECEIVE_EVENTS, ROUTING_EVENTS } from '../../sdk/bundle/event-names.ts';
import { ManifestSchema, VENDOR_PATTERN } from '../../sdk/bundle/manifest.ts';
import { rawPublicKey } from '../../sdk/bundle/signing.ts';
import { TOKEN_ID_PATTERN, TOKEN_NAME_PATTERN, TOKEN_ROLES, TokenInfoSchema } from './token-store.ts';

const unique = (items: readonly unknown[]): boolean => new Set(items).size === items.length;

function isOrigin(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === text;
  } catch {
    return false;
  }
}

// ---- path and query ----

const NamePart = v.pipe(v.string(), v.regex(VENDOR_PATTERN, 'expected [a-z0-9][a-z0-9-]{0,38}'));
export const AgentParamsSchema = v.strictObject({ vendor: NamePart, agent: NamePart });
export const KeyParamsSchema = v.strictObject({
  keyId: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{22}$/, 'expected a key id: 22 base64url characters')),
});
export const TokenParamsSchema = v.strictObject({
  id: v.pipe(v.string(), v.regex(TOKEN_ID_PATTERN, 'expected a token id such as tok_0123456789ab')),
});
export const InstallQuerySchema = v.strictObject({
  /** Install even when the bundle is an older version than the installed one. */
  force: v.optional(v.pipe(v.picklist(['true', 'false'], 'expected true or false'), v.transform((s) => s === 'true'))),
});

// ---- request bodies ----

const Capability = v.picklist(['log', 'kv', 'dns', 'fetch']);
const ALL_EVENTS = [...RECEIVE_EVENTS, ...ROUTING_EVENTS, ...DELIVERY_EVENTS] as const;
const EventName = v.picklist(ALL_EVENTS, 'expected an event name such as onRcptTo');

export const EnableBodySchema = v.strictObject({
  /** Capabilities to grant, a subset of what the manifest requests (`log` is always granted). */
  capabilities: v.optional(v.pipe(v.array(Capability), v.check((a) => unique(a), 'each capability at most once'))),
  /** Origins `fetch` may reach, a subset of the manifest's `fetchOrigins`. */
  fetchOrigins: v.optional(
    v.pipe(
      v.array(v.pipe(v.string(), v.check(isOrigin, 'expected an origin: scheme://host[:port] over https or http'))),
      v.maxLength(64),
      v.check((a) => unique(a), 'each origin at most once'),
    ),
  ),
});
export const PriorityBodySchema = v.strictObject({
  /** Lower runs first. */
  priority: v.pipe(v.number(), v.integer(), v.minValue(-1_000_000), v.maxValue(1_000_000)),
});
export const ConfigBodySchema = v.strictObject({
  /** The agent's configuration, checked against its manifest's `configSchema`. */
  config: v.custom<unknown>((c) => c !== undefined, 'expected a JSON value'),
});
export const PolicyBodySchema = v.pipe(
  v.strictObject({
    /** Per-event budgets in ms, no higher than the manifest's. */
    budgets: v.optional(v.record(EventName, v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(30_000)))),
    failurePolicy: v.optional(v.picklist(['open', 'closed'])),
  }),
  v.check((p) => p.budgets !== undefined || p.failurePolicy !== undefined, 'expected budgets, failurePolicy or both'),
);
export const AddKeyBodySchema = v.strictObject({
  /** Base64 of the raw 32-byte Ed25519 public key. */
  publicKey: v.pipe(v.string(), v.check((k) => rawPublicKey(k) !== null, 'expected the base64 of a 32-byte Ed25519 public key')),
  /** Vendors the key may sign agents for. */
  vendors: v.pipe(
    v.array(v.pipe(v.string(), v.regex(VENDOR_PATTERN, 'expected a vendor name: [a-z0-9][a-z0-9-]{0,38}'))),
    v.minLength(1, 'expected at least one vendor'),
    v.check((a) => unique(a), 'each vendor at most once'),
  ),
});
export const CreateTokenBodySchema = v.strictObject({
  name: v.pipe(v.string(), v.regex(TOKEN_NAME_PATTERN, 'expected [A-Za-z0-9][A-Za-z0-9._-]{0,63}')),
  role: v.optional(v.picklist(TOKEN_ROLES), 'read-only'),
});
/** For mutations that take no input: nothing, or an empty JSON object. */
export const EmptyBodySchema = v.strictObject({});

// ---- responses ----

const SettingsSchema = v.object({
  enabled: v.boolean(),
  priority: v.number(),
  capabilities: v.array(Capability),
  fetchOrigins: v.array(v.string()),
  config: v.unknown(),
  budgets: v.record(v.string(), v.number()),
  failurePolicy: v.picklist(['open', 'closed']),
});
const BreakerSchema = v.variant('state', [
  v.object({ state: v.literal('closed') }),
  v.object({ state: v.literal('open'), since: v.number(), until: v.number(), failures: v.number(), lastError: v.string() }),
]);
export const AgentInfoSchema: v.GenericSchema<unknown, AgentInfo> = v.object({
  name: v.string(),
  version: v.string(),
  kind: v.picklist(AGENT_KINDS),
  manifest: ManifestSchema,
  keyId: v.nullable(v.string()),
  unsigned: v.boolean(),
  installedAt: v.number(),
  settings: SettingsSchema,
  breaker: BreakerSchema,
  blocked: v.nullable(v.string()),
});
const EventStatsSchema = v.object({
  calls: v.number(),
  p50Ms: v.number(),
  p99Ms: v.number(),
  maxMs: v.number(),
  timeouts: v.number(),
  errors: v.number(),
  badResults: v.number(),
  crashes: v.number(),
  verdicts: v.record(v.string(), v.number()),
});
export const AgentStatsSchema: v.GenericSchema<unknown, AgentStats> = v.object({
  name: v.string(),
  version: v.string(),
  breaker: BreakerSchema,
  events: v.record(v.string(), EventStatsSchema),
});
export const AgentListSchema = v.object({ agents: v.array(AgentInfoSchema) });
export const InstallResultSchema = v.object({
  action: v.picklist(['install', 'upgrade', 'forced-downgrade', 'noop']),
  agent: AgentInfoSchema,
});
export const KeySchema: v.GenericSchema<unknown, KeyRecord> = v.object({
  keyId: v.string(),
  publicKey: v.string(),
  vendors: v.array(v.string()),
  revoked: v.boolean(),
  addedAt: v.number(),
});
export const KeyListSchema = v.object({ keys: v.array(KeySchema) });
export const TokenListSchema = v.object({ tokens: v.array(TokenInfoSchema) });
export const TokenCreatedSchema = v.object({
  ...TokenInfoSchema.entries,
  /** The bearer token itself; shown only in this response. */
  token: v.string(),
});
export const DriverSchema = v.object({ name: v.string(), guarantees: v.array(v.string()), devMode: v.boolean() });
export const HealthSchema = v.object({
  status: v.literal('ok'),
  version: v.string(),
  uptimeSeconds: v.number(),
  smtp: v.object({ listen: v.string(), connections: v.number() }),
  queue: v.object({ messages: v.number(), bytes: v.number() }),
});
