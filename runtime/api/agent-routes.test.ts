import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSignedBundle } from '../../sdk/bundle/build-bundle.ts';
import { draftManifest } from '../../sdk/bundle/bundle-test-kit.ts';
import { agentSource } from '../testing/agent-kit.ts';
import { generateKeyPair, type VendorKeyPair } from '../../sdk/bundle/signing.ts';
import { call, startTestApi, type TestApi } from './api-test-kit.ts';

const BUNDLE = 'application/vnd.sluice.agent-bundle';

async function withApi(fn: (api: TestApi, vendor: VendorKeyPair) => Promise<void>, options: { maxBundleBytes?: number } = {}): Promise<void> {
  const api = await startTestApi(options);
  try {
    const vendor = generateKeyPair();
    const added = await call(api, 'POST', '/v1/keys', { json: { publicKey: vendor.publicKey, vendors: ['acme'] } });
    assert.equal(added.status, 201);
    await fn(api, vendor);
  } finally {
    await api.close();
  }
}

/** Rejects `blocked…` recipients, throws for `boom…` ones, lets the rest through. */
const HANDLERS = `onRcptTo(e) {
  if (e.recipient.startsWith('blocked')) return { verdict: 'reject', code: 550, enhanced: '5.7.1', text: 'no' };
  if (e.recipient.startsWith('boom')) throw new Error('boom');
}`;
const CONFIG_SCHEMA = { type: 'object', properties: { maxRecipients: { type: 'integer' } }, additionalProperties: false };

function bundle(vendor: VendorKeyPair, overrides: Record<string, unknown> = {}): Uint8Array {
  const manifest = draftManifest({ configSchema: CONFIG_SCHEMA, ...overrides });
  return createSignedBundle({ manifest, code: agentSource(HANDLERS), privateKey: vendor.privateKey });
}

test('a signed bundle installs disabled (201 with Location), a newer one upgrades (200), an older one needs ?force=true', async () => {
  await withApi(async (api, vendor) => {
    const first = await call(api, 'POST', '/v1/agents', { body: bundle(vendor), contentType: BUNDLE });
    assert.equal(first.status, 201);
    assert.equal(first.headers.get('location'), '/v1/agents/acme/greylist');
    assert.equal(first.json.action, 'install');
    assert.equal(first.json.agent.settings.enabled, false);
    assert.equal(first.json.agent.keyId, vendor.keyId);

    const upgrade = await call(api, 'POST', '/v1/agents', { body: bundle(vendor, { version: '1.3.0' }), contentType: 'application/octet-stream' });
    assert.equal(upgrade.status, 200);
    assert.equal(upgrade.json.action, 'upgrade');

    const older = await call(api, 'POST', '/v1/agents', { body: bundle(vendor, { version: '1.0.0' }), contentType: BUNDLE });
    assert.equal(older.status, 409);
    assert.equal(older.json.code, 'DOWNGRADE');
    assert.equal(older.json.type, 'urn:sluice:problem:downgrade');

    const forced = await call(api, 'POST', '/v1/agents?force=true', { body: bundle(vendor, { version: '1.0.0' }), contentType: BUNDLE });
    assert.equal(forced.status, 200);
    assert.equal(forced.json.action, 'forced-downgrade');

    const badQuery = await call(api, 'POST', '/v1/agents?force=yes', { body: bundle(vendor), contentType: BUNDLE });
    assert.equal(badQuery.status, 400);
    assert.equal(badQuery.json.field, 'force');
    const unknownQuery = await call(api, 'POST', '/v1/agents?forse=true', { body: bundle(vendor), contentType: BUNDLE });
    assert.equal(unknownQuery.status, 400);
    assert.deepEqual(unknownQuery.json.errors, [{ field: 'forse', message: 'unknown field' }]);

    const lines = await api.auditLines();
    const installs = lines.filter((l) => l.action === 'agents.install');
    assert.deepEqual(
      installs.map((l) => [l.outcome, l.target, (l.details as Record<string, unknown>)?.result ?? null]),
      [['ok', 'acme/greylist', 'install'], ['ok', 'acme/greylist', 'upgrade'], ['error', null, null], ['ok', 'acme/greylist', 'forced-downgrade'], ['error', null, null], ['error', null, null]],
    );
  });
});

test('a bundle from an untrusted key is 422 with the verifier code', async () => {
  await withApi(async (api) => {
    const res = await call(api, 'POST', '/v1/agents', { body: bundle(generateKeyPair()), contentType: BUNDLE });
    assert.equal(res.status, 422);
    assert.equal(res.json.code, 'UNKNOWN_KEY');
    assert.match(res.json.detail, /not in the trust store/);
  });
});

test('a bundle sent as JSON or without a type is 415; an empty one is 400', async () => {
  await withApi(async (api, vendor) => {
    for (const contentType of ['application/json', 'text/plain']) {
      const res = await call(api, 'POST', '/v1/agents', { body: bundle(vendor), contentType });
      assert.equal(res.status, 415, contentType);
      assert.equal(res.json.field, 'content-type');
      assert.match(res.headers.get('accept-post') ?? '', /application\/vnd\.sluice\.agent-bundle/);
    }
    const empty = await call(api, 'POST', '/v1/agents', { body: new Uint8Array(0), contentType: BUNDLE });
    assert.equal(empty.status, 400);
    assert.equal(empty.json.field, 'body');
  });
});

test('a bundle over api.maxBundleBytes is 413 and nothing is installed', async () => {
  await withApi(
    async (api) => {
      const res = await call(api, 'POST', '/v1/agents', { body: new Uint8Array(4097), contentType: BUNDLE });
      assert.equal(res.status, 413);
      assert.equal(res.json.code, 'TOO_LARGE');
      assert.match(res.json.detail, /4096 bytes/);
      assert.equal((await call(api, 'GET', '/v1/agents')).json.agents.length, 0);
    },
    { maxBundleBytes: 4096 },
  );
});

test('a chunked bundle is counted while it is read and refused with 413 past the limit', async () => {
  await withApi(
    async (api) => {
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= 64 * 1024) return controller.close();
          sent += 1024;
          controller.enqueue(new Uint8Array(1024));
        },
      });
      const res = await fetch(`${api.url}/v1/agents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${api.adminToken}`, 'content-type': BUNDLE },
        body: stream,
        duplex: 'half',
      } as RequestInit);
      assert.equal(res.status, 413);
      assert.equal(((await res.json()) as { code: string }).code, 'TOO_LARGE');
    },
    { maxBundleBytes: 4096 },
  );
});

test('agents list in priority order; show, enable, stats, breaker reset, disable, priority, config, policy, uninstall', async () => {
  await withApi(async (api, vendor) => {
    await call(api, 'POST', '/v1/agents', { body: bundle(vendor), contentType: BUNDLE });
    await call(api, 'POST', '/v1/agents', { body: bundle(vendor, { name: 'acme/spf' }), contentType: BUNDLE });
    assert.deepEqual((await call(api, 'GET', '/v1/agents')).json.agents.map((a: { name: string }) => a.name), ['acme/greylist', 'acme/spf']);
    const prio = await call(api, 'PUT', '/v1/agents/acme/spf/priority', { json: { priority: 10 } });
    assert.equal(prio.status, 200);
    assert.equal(prio.json.settings.priority, 10);
    assert.deepEqual((await call(api, 'GET', '/v1/agents')).json.agents.map((a: { name: string }) => a.name), ['acme/spf', 'acme/greylist']);

    const show = await call(api, 'GET', '/v1/agents/acme/greylist');
    assert.equal(show.json.manifest.name, 'acme/greylist');
    const enabled = await call(api, 'POST', '/v1/agents/acme/greylist/enable', { json: { capabilities: ['kv'] } });
    assert.equal(enabled.status, 200, enabled.text);
    assert.deepEqual([enabled.json.settings.enabled, enabled.json.settings.capabilities, enabled.json.blocked], [true, ['log', 'kv'], null]);

    // The change applies live: the next event runs the agent.
    assert.equal((await api.rcptTo('blocked@example.com')).verdict, 'reject');
    await api.rcptTo('boom@example.com');
    await api.rcptTo('boom@example.com');
    assert.equal((await call(api, 'GET', '/v1/agents/acme/greylist')).json.breaker.state, 'open');
    const stats = await call(api, 'GET', '/v1/agents/acme/greylist/stats');
    assert.equal(stats.json.events.onRcptTo.calls, 3);
    assert.equal(stats.json.events.onRcptTo.errors, 2);
    assert.equal(stats.json.events.onRcptTo.verdicts.reject, 1);
    assert.equal((await call(api, 'POST', '/v1/agents/acme/greylist/breaker/reset', { json: {} })).json.breaker.state, 'closed');

    // A body-less POST (no content type at all) is fine where the body is optional.
    const disabled = await call(api, 'POST', '/v1/agents/acme/greylist/disable');
    assert.equal(disabled.status, 200);
    assert.equal(disabled.json.settings.enabled, false);
    assert.equal((await api.rcptTo('blocked@example.com')).verdict, 'continue');

    const config = await call(api, 'PUT', '/v1/agents/acme/greylist/config', { json: { config: { maxRecipients: 5 } } });
    assert.deepEqual(config.json.settings.config, { maxRecipients: 5 });
    const policy = await call(api, 'PUT', '/v1/agents/acme/greylist/policy', { json: { budgets: { onRcptTo: 10 }, failurePolicy: 'open' } });
    assert.deepEqual([policy.json.settings.budgets, policy.json.settings.failurePolicy], [{ onRcptTo: 10 }, 'open']);

    assert.equal((await call(api, 'DELETE', '/v1/agents/acme/greylist')).status, 204);
    const gone = await call(api, 'GET', '/v1/agents/acme/greylist');
    assert.equal(gone.status, 404);
    assert.equal(gone.json.code, 'NOT_FOUND');
    assert.deepEqual(
      (await api.auditLines()).filter((l) => l.action !== 'keys.add' && l.action !== 'agents.install').map((l) => `${l.action} ${l.target} ${l.outcome}`),
      [
        'agents.priority acme/spf ok',
        'agents.enable acme/greylist ok',
        'agents.breaker-reset acme/greylist ok',
        'agents.disable acme/greylist ok',
        'agents.config acme/greylist ok',
        'agents.policy acme/greylist ok',
        'agents.uninstall acme/greylist ok',
      ],
    );
  });
});

test('invalid JSON bodies are 422 problems whose field and errors[] name each bad field', async () => {
  await withApi(async (api, vendor) => {
    await call(api, 'POST', '/v1/agents', { body: bundle(vendor), contentType: BUNDLE });
    const prio = await call(api, 'PUT', '/v1/agents/acme/greylist/priority', { json: { priority: 'high' } });
    assert.equal(prio.status, 422);
    assert.match(prio.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(prio.json.field, 'priority');
    assert.equal(prio.json.code, 'INVALID_BODY');
    assert.equal(prio.json.errors.length, 1);
    assert.match(prio.json.detail, /^priority: /);

    const enable = await call(api, 'POST', '/v1/agents/acme/greylist/enable', { json: { capabilities: ['kv', 'root'], fetchOrigins: ['ftp://x'], extra: 1 } });
    assert.equal(enable.status, 422);
    assert.deepEqual(enable.json.errors.map((e: { field: string }) => e.field).sort(), ['capabilities[1]', 'extra', 'fetchOrigins[0]']);

    const config = await call(api, 'PUT', '/v1/agents/acme/greylist/config', { json: {} });
    assert.equal(config.json.field, 'config');
    const policy = await call(api, 'PUT', '/v1/agents/acme/greylist/policy', { json: { budgets: { onRcptTo: 0 } } });
    assert.equal(policy.json.field, 'budgets.onRcptTo');
    const emptyPolicy = await call(api, 'PUT', '/v1/agents/acme/greylist/policy', { json: {} });
    assert.equal(emptyPolicy.status, 422);
    assert.match(emptyPolicy.json.detail, /budgets, failurePolicy or both/);

    const malformed = await call(api, 'PUT', '/v1/agents/acme/greylist/priority', { body: '{"priority": 1,', contentType: 'application/json' });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.json.code, 'MALFORMED_JSON');
    const duplicate = await call(api, 'PUT', '/v1/agents/acme/greylist/priority', { body: '{"priority":1,"priority":2}', contentType: 'application/json' });
    assert.equal(duplicate.status, 400);
    assert.match(duplicate.json.detail, /duplicate key/);
  });
});

test("the registry's own refusals keep their field: a grant not requested, a config field, a budget above the manifest's", async () => {
  await withApi(async (api, vendor) => {
    await call(api, 'POST', '/v1/agents', { body: bundle(vendor), contentType: BUNDLE });
    const grant = await call(api, 'POST', '/v1/agents/acme/greylist/enable', { json: { capabilities: ['kv', 'dns'] } });
    assert.deepEqual([grant.status, grant.json.code, grant.json.field], [422, 'INVALID_GRANT', 'capabilities[1]']);
    const config = await call(api, 'PUT', '/v1/agents/acme/greylist/config', { json: { config: { maxRecipients: 'many' } } });
    assert.deepEqual([config.status, config.json.code, config.json.field], [422, 'INVALID_CONFIG', 'config.maxRecipients']);
    const budget = await call(api, 'PUT', '/v1/agents/acme/greylist/policy', { json: { budgets: { onRcptTo: 500 } } });
    assert.deepEqual([budget.status, budget.json.code, budget.json.field], [422, 'INVALID_BUDGET', 'budgets.onRcptTo']);
  });
});

test('mutations take JSON only (415), JSON bodies over 64 KiB are 413, bad path parameters are 404 naming the field', async () => {
  await withApi(async (api, vendor) => {
    await call(api, 'POST', '/v1/agents', { body: bundle(vendor), contentType: BUNDLE });
    const form = await call(api, 'PUT', '/v1/agents/acme/greylist/priority', { body: 'priority=1', contentType: 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 415);
    // Bytes without a Content-Type header at all.
    const none = await call(api, 'PUT', '/v1/agents/acme/greylist/priority', { body: new TextEncoder().encode('{"priority":1}') });
    assert.equal(none.status, 415);
    assert.match(none.json.detail, /not "none"/);
    const optionalButText = await call(api, 'POST', '/v1/agents/acme/greylist/disable', { body: 'please', contentType: 'text/plain' });
    assert.equal(optionalButText.status, 415);
    const big = await call(api, 'PUT', '/v1/agents/acme/greylist/config', { json: { config: { pad: 'x'.repeat(70 * 1024) } } });
    assert.equal(big.status, 413);
    assert.equal(big.json.field, 'body');
    const path = await call(api, 'GET', '/v1/agents/ACME/greylist');
    assert.equal(path.status, 404);
    assert.equal(path.json.field, 'vendor');
    const noRoute = await call(api, 'GET', '/v1/nothing');
    assert.deepEqual([noRoute.status, noRoute.json.code], [404, 'NO_ROUTE']);
  });
});

test('GET /v1/driver names the driver, its guarantees and development mode', async () => {
  await withApi(async (api) => {
    const res = await call(api, 'GET', '/v1/driver');
    assert.deepEqual(res.json, { name: 'isolated-vm host process', guarantees: ['one V8 isolate per agent'], devMode: false });
  });
});
