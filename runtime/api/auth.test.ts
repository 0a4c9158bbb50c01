import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { call, startTestApi, type TestApi } from './api-test-kit.ts';

async function withApi(fn: (api: TestApi) => Promise<void>): Promise<void> {
  const api = await startTestApi();
  try {
    await fn(api);
  } finally {
    await api.close();
  }
}

test('a request without a token is 401 problem+json with a Bearer challenge', async () => {
  await withApi(async (api) => {
    for (const [method, path] of [['GET', '/v1/agents'], ['GET', '/metrics'], ['POST', '/v1/keys'], ['GET', '/v1/tokens']] as const) {
      const res = await call(api, method, path, { token: null });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="sluice"');
      assert.equal(res.json.code, 'UNAUTHENTICATED');
      assert.equal(res.json.status, 401);
    }
  });
});

test('a wrong token is 401 and the error never repeats it', async () => {
  await withApi(async (api) => {
    const wrong = 'sluice_thisIsNotTheTokenYouAreLookingFor0000000000';
    const res = await call(api, 'GET', '/v1/agents', { token: wrong });
    assert.equal(res.status, 401);
    assert.equal(res.json.code, 'INVALID_TOKEN');
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    assert.ok(!res.text.includes(wrong));
    // A token that differs from the admin's in its last character only is just as wrong.
    const near = api.adminToken.slice(0, -1) + (api.adminToken.endsWith('A') ? 'B' : 'A');
    assert.equal((await call(api, 'GET', '/v1/agents', { token: near })).status, 401);
  });
});

test('public routes need no token: health and the OpenAPI document', async () => {
  await withApi(async (api) => {
    for (const path of ['/health', '/v1/health', '/v1/openapi.json']) {
      assert.equal((await call(api, 'GET', path, { token: null })).status, 200, path);
    }
    const health = await call(api, 'GET', '/v1/health', { token: null });
    assert.deepEqual(health.json.queue, { messages: 7, bytes: 7000 });
  });
});

test('a read-only token reads (agents, keys, metrics, driver) but every change is 403', async () => {
  await withApi(async (api) => {
    const made = await call(api, 'POST', '/v1/tokens', { json: { name: 'grafana', role: 'read-only' } });
    assert.equal(made.status, 201);
    assert.equal(made.headers.get('cache-control'), 'no-store');
    const ro = made.json.token as string;
    assert.match(ro, /^sluice_/);
    assert.deepEqual(Object.keys(made.json).sort(), ['createdAt', 'id', 'name', 'role', 'token']);
    for (const path of ['/v1/agents', '/v1/keys', '/metrics', '/v1/driver']) {
      assert.equal((await call(api, 'GET', path, { token: ro })).status, 200, path);
    }
    const mutations: [string, string, unknown][] = [
      ['POST', '/v1/keys', { publicKey: 'x', vendors: ['acme'] }],
      ['POST', '/v1/agents/acme/x/enable', {}],
      ['PUT', '/v1/agents/acme/x/priority', { priority: 1 }],
      ['DELETE', '/v1/agents/acme/x', undefined],
      ['POST', '/v1/tokens', { name: 'sneaky', role: 'admin' }],
      ['GET', '/v1/tokens', undefined],
    ];
    for (const [method, path, json] of mutations) {
      const res = await call(api, method, path, { token: ro, ...(json === undefined ? {} : { json }) });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal(res.json.code, 'FORBIDDEN');
      assert.match(res.json.detail, /read-only/);
    }
  });
});

test('a revoked token stops working at once', async () => {
  await withApi(async (api) => {
    const made = await call(api, 'POST', '/v1/tokens', { json: { name: 'ci' } });
    assert.equal(made.json.role, 'read-only', 'role defaults to read-only');
    assert.equal((await call(api, 'GET', '/v1/agents', { token: made.json.token })).status, 200);
    const listed = await call(api, 'GET', '/v1/tokens');
    assert.deepEqual(listed.json.tokens.map((t: { name: string }) => t.name).sort(), ['admin', 'ci']);
    assert.ok(!listed.text.includes(made.json.token));
    assert.equal((await call(api, 'DELETE', `/v1/tokens/${made.json.id}`)).status, 204);
    assert.equal((await call(api, 'GET', '/v1/agents', { token: made.json.token })).status, 401);
    assert.equal((await call(api, 'DELETE', `/v1/tokens/${made.json.id}`)).json.code, 'UNKNOWN_TOKEN');
  });
});

test('a duplicate token name is 409 naming the field', async () => {
  await withApi(async (api) => {
    const res = await call(api, 'POST', '/v1/tokens', { json: { name: 'admin', role: 'read-only' } });
    assert.equal(res.status, 409);
    assert.equal(res.json.field, 'name');
  });
});

test('every change attempt is audited (allowed, denied, failed) and no token ever reaches the log', async () => {
  await withApi(async (api) => {
    const made = await call(api, 'POST', '/v1/tokens', { json: { name: 'viewer', role: 'read-only' } });
    await call(api, 'PUT', '/v1/agents/acme/greylist/priority', { token: made.json.token, json: { priority: 5 } });
    await call(api, 'PUT', '/v1/agents/acme/greylist/priority', { json: { priority: 5 } });
    await call(api, 'POST', '/v1/keys', { token: 'sluice_wrong', json: {} });
    await call(api, 'GET', '/v1/agents');
    const lines = await api.auditLines();
    assert.equal(lines.length, 4, 'reads are not audited');
    const [create, denied, failed, anonymous] = lines as Record<string, any>[];
    assert.deepEqual(
      { ...create, time: undefined },
      {
        time: undefined,
        token: { name: 'admin', role: 'admin' },
        method: 'POST',
        path: '/v1/tokens',
        action: 'tokens.create',
        target: made.json.id,
        outcome: 'ok',
        status: 201,
        error: null,
        details: { name: 'viewer', role: 'read-only' },
      },
    );
    assert.ok(!Number.isNaN(Date.parse(create!.time)));
    assert.deepEqual([denied!.outcome, denied!.status, denied!.error, denied!.token], ['denied', 403, 'FORBIDDEN', { name: 'viewer', role: 'read-only' }]);
    assert.deepEqual([failed!.outcome, failed!.status, failed!.error, failed!.target, failed!.action], ['error', 404, 'NOT_FOUND', 'acme/greylist', 'agents.priority']);
    assert.deepEqual([anonymous!.outcome, anonymous!.status, anonymous!.error, anonymous!.token], ['denied', 401, 'INVALID_TOKEN', null]);
    const raw = await readFile(api.stores.audit.file, 'utf8');
    assert.ok(!raw.includes(api.adminToken) && !raw.includes(made.json.token) && !raw.includes('sluice_wrong'));
    assert.ok(!raw.includes('sluice_'), 'no token of any kind');
  });
});
