import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as v from 'valibot';
import { draftManifest } from './bundle-test-kit.ts';
import { DELIVERY_EVENTS, RECEIVE_EVENTS, ROUTING_EVENTS } from './event-names.ts';
import { formatManifestIssues, ManifestSchema, MAX_CONFIG_SCHEMA_BYTES } from './manifest.ts';

const code = { sha256: 'a'.repeat(64), bytes: 10 };

function issuesOf(overrides: Record<string, unknown>): string[] {
  const r = v.safeParse(ManifestSchema, { ...draftManifest(overrides), code });
  assert.equal(r.success, false, `expected ${JSON.stringify(overrides)} to be refused`);
  return r.success ? [] : formatManifestIssues(r.issues);
}

test('accepts a complete manifest and defaults wantsBody to false', () => {
  const r = v.safeParse(ManifestSchema, { ...draftManifest(), code });
  assert.ok(r.success);
  assert.equal(r.output.wantsBody, false);
  assert.equal(r.output.kind, 'receive');
  const full = {
    ...draftManifest({ capabilities: ['log', 'fetch'], fetchOrigins: ['https://api.example.com', 'http://10.0.0.1:8080'] }),
    wantsBody: true,
    configSchema: { type: 'object', properties: { threshold: { type: 'number' } } },
    code,
  };
  assert.ok(v.safeParse(ManifestSchema, full).success);
});

test('lists each kind\'s events once, with no duplicates across the lists', () => {
  const all = [...RECEIVE_EVENTS, ...ROUTING_EVENTS, ...DELIVERY_EVENTS];
  assert.equal(new Set(all).size, all.length);
  assert.deepEqual([RECEIVE_EVENTS.length, ROUTING_EVENTS.length, DELIVERY_EVENTS.length], [16, 4, 3]);
});

test('accepts each kind with its own events only', () => {
  for (const [kind, events] of [['routing', ROUTING_EVENTS], ['delivery', DELIVERY_EVENTS], ['receive', RECEIVE_EVENTS]] as const) {
    const budgets = Object.fromEntries(events.map((e) => [e, 100]));
    assert.ok(v.safeParse(ManifestSchema, { ...draftManifest({ kind, events: [...events], budgets }), code }).success, kind);
  }
  assert.match(issuesOf({ kind: 'routing' }).join('\n'), /^events\.0: Invalid type: Expected \("onSubmittedMessage"/m);
  assert.match(issuesOf({ kind: 'transport' }).join('\n'), /^kind: Invalid type: Expected \("receive" \| "routing" \| "delivery"\)/m);
});

test('names the field for each malformed value', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ name: 'acme' }, /^name: Invalid name/],
    [{ name: 'Acme/greylist' }, /^name: Invalid name/],
    [{ name: '-acme/greylist' }, /^name: Invalid name/],
    [{ name: `acme/${'a'.repeat(40)}` }, /^name: Invalid name/],
    [{ name: 'acme/grey/list' }, /^name: Invalid name/],
    [{ version: '1.0' }, /^version: Invalid version/],
    [{ version: 'v1.0.0' }, /^version: Invalid version/],
    [{ events: [] }, /^events: Invalid length/],
    [{ events: ['onRcptTo', 'onRcptTo'], budgets: { onRcptTo: 5 } }, /^events: Invalid events: each event at most once/],
    [{ budgets: { onMailFrom: 20 } }, /^budgets: Invalid budgets: expected exactly one budget per subscribed event/],
    [{ budgets: { onMailFrom: 20, onRcptTo: 50, onConnect: 5 } }, /^budgets: Invalid budgets/],
    [{ budgets: { onMailFrom: 20, onRcptTo: 0 } }, /^budgets\.onRcptTo: Invalid value/],
    [{ budgets: { onMailFrom: 20, onRcptTo: 30_001 } }, /^budgets\.onRcptTo: Invalid value/],
    [{ budgets: { onMailFrom: 20, onRcptTo: 1.5 } }, /^budgets\.onRcptTo: Invalid integer/],
    [{ budgets: { onMailFrom: 20, onRcptTo: 50, onSubmittedMessage: 5 } }, /^budgets\.onSubmittedMessage: Invalid type/],
    [{ memoryMiB: 4 }, /^memoryMiB: Invalid value/],
    [{ memoryMiB: 513 }, /^memoryMiB: Invalid value/],
    [{ capabilities: ['log', 'log'] }, /^capabilities: Invalid capabilities/],
    [{ capabilities: ['shell'] }, /^capabilities\.0: Invalid type/],
    [{ capabilities: ['fetch'] }, /^fetchOrigins: Invalid fetchOrigins: required with the fetch capability/],
    [{ fetchOrigins: ['https://a.example'] }, /^fetchOrigins: Invalid fetchOrigins: required with the fetch capability/],
    [{ capabilities: ['fetch'], fetchOrigins: ['https://a.example/path'] }, /^fetchOrigins\.0: Invalid origin/],
    [{ capabilities: ['fetch'], fetchOrigins: ['ftp://a.example'] }, /^fetchOrigins\.0: Invalid origin/],
    [{ capabilities: ['fetch'], fetchOrigins: ['https://A.example'] }, /^fetchOrigins\.0: Invalid origin/],
    [{ capabilities: ['fetch'], fetchOrigins: ['https://a.example:443'] }, /^fetchOrigins\.0: Invalid origin/],
    [{ capabilities: ['fetch'], fetchOrigins: ['https://u:p@a.example'] }, /^fetchOrigins\.0: Invalid origin/],
    [{ capabilities: ['fetch'], fetchOrigins: [] }, /^fetchOrigins: Invalid length/],
    [{ wantsBody: 'yes' }, /^wantsBody: Invalid type/],
    [{ configSchema: [] }, /^configSchema: Invalid configSchema: expected a JSON object/],
    [{ configSchema: 'x' }, /^configSchema: Invalid configSchema: expected a JSON object/],
    [{ configSchema: { big: 'x'.repeat(MAX_CONFIG_SCHEMA_BYTES) } }, /^configSchema: Invalid configSchema: larger than/],
    [{ sdk: '*' }, /^sdk: Invalid sdk/],
    [{ entry: 'main.js' }, /^entry: unknown field/],
  ];
  for (const [overrides, expected] of cases) assert.match(issuesOf(overrides).join('\n'), expected, JSON.stringify(overrides));
});

test('checks the code hash shape and length', () => {
  const bad = (c: unknown): string => {
    const r = v.safeParse(ManifestSchema, { ...draftManifest(), code: c });
    return r.success ? '' : formatManifestIssues(r.issues).join('\n');
  };
  assert.match(bad({ sha256: 'A'.repeat(64), bytes: 1 }), /^code\.sha256: Invalid sha256/);
  assert.match(bad({ sha256: 'a'.repeat(63), bytes: 1 }), /^code\.sha256: Invalid sha256/);
  assert.match(bad({ sha256: 'a'.repeat(64), bytes: -1 }), /^code\.bytes: Invalid value/);
  assert.match(bad({ sha256: 'a'.repeat(64), bytes: 1, algo: 'md5' }), /^code\.algo: unknown field/);
  assert.match(bad(undefined), /^code: Invalid type/);
});
