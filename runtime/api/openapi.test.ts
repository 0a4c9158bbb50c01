import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTestManagement } from './api-test-kit.ts';
import { createApiApp } from './app.ts';
import { openApiPath } from './openapi.ts';

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { security: unknown[]; parameters?: { name: string; in: string }[]; responses: Record<string, unknown>; requestBody?: unknown }>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, { type: string; scheme: string }> };
};

test('the OpenAPI 3.1 document lists every route the app registers, with bearer security, parameters and responses', async () => {
  const m = await openTestManagement();
  try {
    const app = createApiApp({
      version: '9.9.9',
      startedAt: Date.now(),
      smtp: { listen: '127.0.0.1:25', connections: () => 0 },
      queue: () => ({ messages: 0, bytes: 0 }),
      management: m.deps,
    });
    const res = await app.request('/v1/openapi.json');
    assert.equal(res.status, 200);
    const doc = (await res.json()) as Doc;
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', description: 'an API token; admin or read-only' });

    const registered = new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method.toLowerCase()} ${openApiPath(r.path)}`));
    const documented = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`)));
    assert.ok(registered.size >= 23, `expected the whole API, got ${registered.size} routes`);
    assert.deepEqual([...registered].filter((r) => !documented.has(r)), [], 'registered but not documented');
    assert.deepEqual([...documented].filter((r) => !registered.has(r)), [], 'documented but not registered');

    const refs = JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([A-Za-z]+)"/g);
    for (const [, name] of refs) assert.ok(doc.components.schemas[name!], `dangling $ref ${name}`);
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method} ${p}`;
        const inPath = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
        assert.deepEqual(op.parameters?.filter((x) => x.in === 'path').map((x) => x.name) ?? [], inPath, `${where} path parameters`);
        assert.ok(Object.keys(op.responses).some((s) => s.startsWith('2')), `${where} has a success response`);
        const isPublic = p === '/health' || p === '/v1/health' || p === '/v1/openapi.json';
        assert.deepEqual(op.security, isPublic ? [] : [{ bearer: [] }], `${where} security`);
        if (!isPublic) assert.ok(op.responses['401'], `${where} documents 401`);
        if (method !== 'get') assert.ok(op.requestBody, `${where} documents its body`);
      }
    }
    const priority = doc.paths['/v1/agents/{vendor}/{agent}/priority']!.put!.requestBody as { content: Record<string, { schema: { properties: Record<string, { type: string }> } }> };
    assert.equal(priority.content['application/json']!.schema.properties.priority!.type, 'integer');
    const install = doc.paths['/v1/agents']!.post!;
    assert.deepEqual(Object.keys((install.requestBody as { content: object }).content).sort(), ['application/octet-stream', 'application/vnd.sluice.agent-bundle']);
    assert.ok(install.responses['201'] && install.responses['413'] && install.responses['415']);
  } finally {
    await m.close();
  }
});
