/** The agent manifest: what a vendor signs and what the runtime grants, validated field by field. */
import * as v from 'valibot';
import { DELIVERY_EVENTS, RECEIVE_EVENTS, ROUTING_EVENTS } from './event-names.ts';
import { isSemver, isSemverRange } from './semver.ts';

/**
 * Largest `configSchema` accepted, in bytes of its JSON text.
 * @example
 * JSON.stringify(schema).length <= MAX_CONFIG_SCHEMA_BYTES;
 */
export const MAX_CONFIG_SCHEMA_BYTES = 16 * 1024;

/**
 * Largest code section a manifest may declare (16 MiB), matching the container's cap.
 * @example
 * code.byteLength <= MAX_CODE_BYTES;
 */
export const MAX_CODE_BYTES = 16 * 1024 * 1024;

const PART = '[a-z0-9][a-z0-9-]{0,38}';

/**
 * A vendor name: the part of `vendor/agent` a trusted key is scoped to.
 * @example
 * VENDOR_PATTERN.test('acme'); // true
 */
export const VENDOR_PATTERN: RegExp = new RegExp(`^${PART}$`);

const NamePattern = new RegExp(`^${PART}/${PART}$`);
const BudgetMs = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(30_000));

function isOrigin(text: string): boolean {
  if (text.length > 255) return false;
  try {
    const url = new URL(text);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === text;
  } catch {
    return false;
  }
}

function unique(items: readonly unknown[]): boolean {
  return new Set(items).size === items.length;
}

function jsonBytes(value: unknown): number {
  try {
    return new TextEncoder().encode(JSON.stringify(value)).byteLength;
  } catch {
    return Infinity;
  }
}

const common = {
  name: v.pipe(v.string(), v.regex(NamePattern, 'Invalid name: expected "vendor/agent", each part [a-z0-9][a-z0-9-]{0,38}')),
  version: v.pipe(v.string(), v.check(isSemver, 'Invalid version: expected a SemVer 2.0.0 version such as 1.2.3')),
  memoryMiB: v.pipe(v.number(), v.integer(), v.minValue(8), v.maxValue(512)),
  capabilities: v.pipe(
    v.array(v.picklist(['log', 'kv', 'dns', 'fetch'])),
    v.check((a) => unique(a), 'Invalid capabilities: each capability at most once'),
  ),
  fetchOrigins: v.optional(
    v.pipe(
      v.array(v.pipe(v.string(), v.check(isOrigin, 'Invalid origin: expected scheme://host[:port] over https or http, nothing else'))),
      v.minLength(1),
      v.maxLength(64),
      v.check((a) => unique(a), 'Invalid fetchOrigins: each origin at most once'),
    ),
  ),
  wantsBody: v.optional(v.boolean(), false),
  configSchema: v.optional(
    v.pipe(
      v.custom<Record<string, unknown>>(
        (s) => typeof s === 'object' && s !== null && !Array.isArray(s),
        'Invalid configSchema: expected a JSON object',
      ),
      v.check((s) => jsonBytes(s) <= MAX_CONFIG_SCHEMA_BYTES, `Invalid configSchema: larger than ${MAX_CONFIG_SCHEMA_BYTES} bytes of JSON`),
    ),
  ),
  sdk: v.pipe(v.string(), v.check(isSemverRange, 'Invalid sdk: expected ^x.y.z, ~x.y.z, >=x.y.z or x.y.z')),
  code: v.strictObject({
    sha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'Invalid sha256: expected 64 lowercase hex digits')),
    bytes: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_CODE_BYTES)),
  }),
};

function forKind<K extends string, const E extends readonly [string, ...string[]]>(kind: K, events: E) {
  return v.pipe(
    v.strictObject({
      ...common,
      kind: v.literal(kind),
      events: v.pipe(v.array(v.picklist(events)), v.minLength(1), v.check((a) => unique(a), 'Invalid events: each event at most once')),
      budgets: v.record(v.picklist(events), BudgetMs),
    }),
    v.forward(
      v.partialCheck(
        [['events'], ['budgets']],
        (m) => Object.keys(m.budgets).length === m.events.length && m.events.every((e) => Object.hasOwn(m.budgets, e)),
        'Invalid budgets: expected exactly one budget per subscribed event',
      ),
      ['budgets'],
    ),
    v.forward(
      v.partialCheck(
        [['capabilities'], ['fetchOrigins']],
        (m) => m.capabilities.includes('fetch') === (m.fetchOrigins !== undefined),
        'Invalid fetchOrigins: required with the fetch capability and only with it',
      ),
      ['fetchOrigins'],
    ),
  );
}

/**
 * The manifest of an agent bundle, one variant per kind so that `events` and `budgets` name only that
 * kind's events. Unknown fields are refused.
 * @example
 * const result = v.safeParse(ManifestSchema, JSON.parse(text));
 */
export const ManifestSchema = v.variant('kind', [
  forKind('receive', RECEIVE_EVENTS),
  forKind('routing', ROUTING_EVENTS),
  forKind('delivery', DELIVERY_EVENTS),
]);

/**
 * A validated manifest.
 * @example
 * function vendorOf(m: Manifest): string { return m.name.split('/')[0]!; }
 */
export type Manifest = v.InferOutput<typeof ManifestSchema>;

/**
 * A manifest as an author writes it, before defaults are applied and without `code`, which the
 * builder fills in from the code bytes.
 * @example
 * const draft: ManifestDraft = { name: 'acme/greylist', version: '1.0.0', kind: 'receive', events: ['onRcptTo'],
 *   budgets: { onRcptTo: 50 }, memoryMiB: 32, capabilities: ['log', 'kv'], sdk: '^0.1.0' };
 */
export type ManifestDraft = v.InferInput<typeof ManifestSchema> extends infer T ? (T extends unknown ? Omit<T, 'code'> : never) : never;

/**
 * One line per valibot issue: the field's dotted path and what was expected.
 * @example
 * formatManifestIssues(result.issues); // ['memoryMiB: Invalid value: Expected <=512 but received 4096']
 */
export function formatManifestIssues(issues: readonly v.BaseIssue<unknown>[]): string[] {
  return issues.map((issue) => {
    const path = v.getDotPath(issue) ?? '(root)';
    if (issue.type === 'strict_object' && issue.expected === 'never') return `${path}: unknown field`;
    return `${path}: ${issue.message}`;
  });
}
